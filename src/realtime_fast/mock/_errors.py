"""The service's ``error`` events, as exceptions the session turns into frames.

Every recoverable problem with a client event is raised as :class:`ClientEventError`
inside the session and answered with exactly one ``error`` event (the session
goes on).  Message texts follow the captures quoted in REALTIME_PROTOCOL.md
section 6 (e); where no capture exists the text is the mock's own, in the same
style.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ClientEventError", "describe_kind", "quote", "supported_list"]


class ClientEventError(Exception):
    """A client event the service would reject; becomes one ``error`` event."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type

    def payload(self, event_id: str | None) -> dict[str, Any]:
        """The ``error`` object of the event, echoing the client's ``event_id``."""
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": event_id,
        }

    # -- the catalogue ---------------------------------------------------------

    @classmethod
    def unknown_parameter(cls, path: str) -> ClientEventError:
        return cls(f"Unknown parameter: '{path}'.", code="unknown_parameter", param=path)

    @classmethod
    def missing(cls, path: str) -> ClientEventError:
        return cls(f"Missing required parameter: '{path}'.", code="missing_required_parameter", param=path)

    @classmethod
    def invalid_value(cls, value: Any, supported: list[Any] | tuple[Any, ...], path: str) -> ClientEventError:
        return cls(
            f"Invalid value: {quote(value)}. Supported values are: {supported_list(supported)}.",
            code="invalid_value",
            param=path,
        )

    @classmethod
    def invalid_type(cls, path: str, expected: str, value: Any) -> ClientEventError:
        return cls(
            f"Invalid type for '{path}': expected {expected}, but got {describe_kind(value)} instead.",
            code="invalid_type",
            param=path,
        )

    @classmethod
    def too_long(cls, path: str, maximum: int, length: int) -> ClientEventError:
        return cls(
            f"Invalid '{path}': string too long. Expected a string with maximum length {maximum}, "
            f"but got a string with length {length} instead.",
            code="string_above_max_length",
            param=path,
        )

    @classmethod
    def too_many(cls, path: str, maximum: int, length: int) -> ClientEventError:
        return cls(
            f"Invalid '{path}': array too long. Expected an array with maximum length {maximum}, "
            f"but got an array with length {length} instead.",
            code="array_above_max_length",
            param=path,
        )

    @classmethod
    def out_of_range(cls, path: str, value: int | float, bound: int | float, *, below: bool) -> ClientEventError:
        kind = "integer" if isinstance(value, int) and isinstance(bound, int) else "decimal"
        side = "below minimum" if below else "above maximum"
        op = ">=" if below else "<="
        return cls(
            f"Invalid '{path}': {kind} {side} value. Expected a value {op} {bound}, but got {value} instead.",
            code=f"{kind}_{'below_min' if below else 'above_max'}_value",
            param=path,
        )

    @classmethod
    def item_not_found(cls, item_id: str, param: str = "item_id") -> ClientEventError:
        return cls(f"Item with item_id not found: {item_id}", code="item_not_found", param=param)


def quote(value: Any) -> str:
    """``'text'`` for strings, JSON-ish text for everything else (as the service prints values)."""
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


def supported_list(values: list[Any] | tuple[Any, ...]) -> str:
    """``'a', 'b', and 'c'`` (the service's enumeration style)."""
    quoted = [quote(v) for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def describe_kind(value: Any) -> str:
    """``a string``, ``an integer``... for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "an unsupported value"
