"""Reconciliation of the store against Anthropic's Usage & Cost Admin API (issue 17, docs/reconciliation.md)."""
