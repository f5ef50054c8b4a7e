"""OTLP/JSON attribute values must be AnyValue objects: anything else is a 400, not a blank.

``json_format.ParseDict(..., ignore_unknown_fields=True)`` (needed for forward compatibility
of the envelope) reads ``"value": "plain string"`` as an empty AnyValue, iterating the string
as if its characters were unknown field names, and drops an AnyValue's unknown fields: the span
would be stored with its attribute silently emptied. OTLP/JSON writes an AnyValue as an object
holding at most one of the fields below (lowerCamelCase; json_format also accepts the proto
names), so anything else is refused with the attribute's key.
"""

from __future__ import annotations

from typing import Any



class InvalidAnyValue(ValueError):
    """An attribute value that is not an AnyValue object (the decoder answers 400 with it)."""

_CAMEL = ("stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue")
_FIELDS = frozenset(_CAMEL) | frozenset(
    ("string_value", "bool_value", "int_value", "double_value", "array_value", "kvlist_value", "bytes_value"))


def check_attribute_values(node: Any) -> None:
    """Raise :class:`InvalidAnyValue` naming the first attribute whose value is not an AnyValue.

    Walks the whole (already depth-checked) OTLP/JSON document: every ``attributes`` list,
    wherever it appears (resource, scope, span, event, link), and the values nested in them.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "attributes" and isinstance(value, list):
                _key_values(value)
            else:
                check_attribute_values(value)
    elif isinstance(node, list):
        for item in node:
            check_attribute_values(item)


def _key_values(items: list[Any], outer: str = "") -> None:
    for item in items:
        if isinstance(item, dict) and "value" in item:
            key = item.get("key")
            name = key if isinstance(key, str) else "?"
            _any_value(item["value"], f"{outer}.{name}" if outer else name)


def _any_value(value: Any, key: str) -> None:
    if value is None:  # JSON null for a message field means "not set", as protobuf allows
        return
    if not isinstance(value, dict):
        raise _bad(key, f"must be an AnyValue object such as {{\"stringValue\": ...}}, got {_kind(value)}")
    unknown = sorted(str(name) for name in value if name not in _FIELDS)
    if unknown:
        raise _bad(key, f"has unknown AnyValue field(s) {', '.join(map(repr, unknown))}; "
                        f"expected one of {', '.join(_CAMEL)}")
    if len(value) > 1:
        raise _bad(key, f"sets {len(value)} AnyValue fields ({', '.join(sorted(value))}); at most one is allowed")
    for name, inner in value.items():
        if name in ("arrayValue", "array_value") and isinstance(inner, dict):
            for element in inner.get("values") or []:
                _any_value(element, key)
        elif name in ("kvlistValue", "kvlist_value") and isinstance(inner, dict) and isinstance(inner.get("values"), list):
            _key_values(inner["values"], key)


def _bad(key: str, problem: str) -> InvalidAnyValue:
    return InvalidAnyValue(f"attribute {key[:200]!r}: value {problem}")


def _kind(value: Any) -> str:
    """The JSON type of ``value``, for the error message."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
