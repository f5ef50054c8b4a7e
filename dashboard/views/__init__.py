"""The dashboard pages, one Streamlit script each (run by st.navigation from app.py)."""
