"""A rule's ``where`` filter check: the core's parser (``claudescope.whereclause``), so the config
loader and the alert engine validate a filter the same way."""

from __future__ import annotations

from claudescope.whereclause import WhereError, check_regex, validate_where

__all__ = ["WhereError", "check_regex", "validate_where"]
