"""A tiny JSON validator that fails the way the Realtime service does.

Each spec checks one JSON value and raises :class:`ClientEventError` with the
service's code, ``param`` path and message for the first problem found
(fields are checked in the order the client sent them).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ._errors import ClientEventError

__all__ = ["Any_", "Arr", "Bool", "ByType", "Int", "Map", "Nullable", "Num", "Obj", "Spec", "Str", "Tagged", "join"]


def join(path: str, key: str | int) -> str:
    """``session`` + ``voice`` -> ``session.voice``; ``tools`` + 3 -> ``tools[3]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Spec:
    """Base class: ``check(value, path)`` raises on the first problem."""

    expected = "a value"

    def check(self, value: Any, path: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class Any_(Spec):
    """Anything (free-form JSON such as a JSON-Schema ``parameters`` object)."""

    def __init__(self, expected: str | None = None, kind: type | tuple[type, ...] | None = None) -> None:
        self.kind = kind
        if expected:
            self.expected = expected

    def check(self, value: Any, path: str) -> None:
        if self.kind is not None and not isinstance(value, self.kind):
            raise ClientEventError.invalid_type(path, self.expected, value)


class Str(Spec):
    """A string, optionally from an enumeration and/or of bounded length (characters)."""

    expected = "a string"

    def __init__(self, enum: tuple[str, ...] | None = None, max_len: int | None = None) -> None:
        self.enum = enum
        self.max_len = max_len

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise ClientEventError.invalid_type(path, self.expected, value)
        if self.enum is not None and value not in self.enum:
            raise ClientEventError.invalid_value(value, self.enum, path)
        if self.max_len is not None and len(value) > self.max_len:
            raise ClientEventError.too_long(path, self.max_len, len(value))


class Int(Spec):
    """An integer (booleans rejected) within optional bounds."""

    expected = "an integer"

    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo = lo
        self.hi = hi

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ClientEventError.invalid_type(path, self.expected, value)
        if self.lo is not None and value < self.lo:
            raise ClientEventError.out_of_range(path, value, self.lo, below=True)
        if self.hi is not None and value > self.hi:
            raise ClientEventError.out_of_range(path, value, self.hi, below=False)


class Num(Spec):
    """A number (int or float, booleans rejected) within optional bounds."""

    expected = "a decimal"

    def __init__(self, lo: float | None = None, hi: float | None = None) -> None:
        self.lo = lo
        self.hi = hi

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ClientEventError.invalid_type(path, self.expected, value)
        if self.lo is not None and value < self.lo:
            raise ClientEventError.out_of_range(path, float(value), float(self.lo), below=True)
        if self.hi is not None and value > self.hi:
            raise ClientEventError.out_of_range(path, float(value), float(self.hi), below=False)


class Bool(Spec):
    expected = "a boolean"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise ClientEventError.invalid_type(path, self.expected, value)


class Nullable(Spec):
    """``null`` or the inner spec."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.expected = inner.expected

    def check(self, value: Any, path: str) -> None:
        if value is not None:
            self.inner.check(value, path)


class Obj(Spec):
    """An object with known fields; unknown fields are ``unknown_parameter`` unless ``extra``."""

    expected = "an object"

    def __init__(
        self,
        fields: Mapping[str, Spec],
        required: tuple[str, ...] = (),
        extra: bool = False,
        validate: Callable[[dict[str, Any], str], None] | None = None,
    ) -> None:
        self.fields = dict(fields)
        self.required = required
        self.extra = extra
        self.validate = validate

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ClientEventError.invalid_type(path, self.expected, value)
        for key, sub in value.items():
            spec = self.fields.get(key)
            if spec is None:
                if self.extra:
                    continue
                raise ClientEventError.unknown_parameter(join(path, key))
            spec.check(sub, join(path, key))
        for key in self.required:
            if key not in value:
                raise ClientEventError.missing(join(path, key))
        if self.validate is not None:
            self.validate(value, path)


class Tagged(Spec):
    """An object whose ``type`` field picks the variant (``default`` when ``type`` is absent)."""

    expected = "an object"

    def __init__(self, variants: Mapping[str, Obj], default: str | None = None, tag: str = "type") -> None:
        self.variants = dict(variants)
        self.default = default
        self.tag = tag

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ClientEventError.invalid_type(path, self.expected, value)
        kind = value.get(self.tag, self.default)
        if kind is None:
            raise ClientEventError.missing(join(path, self.tag))
        if not isinstance(kind, str):
            raise ClientEventError.invalid_type(join(path, self.tag), "a string", kind)
        variant = self.variants.get(kind)
        if variant is None:
            raise ClientEventError.invalid_value(kind, tuple(self.variants), join(path, self.tag))
        variant.check(value, path)


class Arr(Spec):
    """An array of one item spec, with an optional maximum length."""

    expected = "an array"

    def __init__(self, item: Spec, max_items: int | None = None) -> None:
        self.item = item
        self.max_items = max_items

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise ClientEventError.invalid_type(path, self.expected, value)
        if self.max_items is not None and len(value) > self.max_items:
            raise ClientEventError.too_many(path, self.max_items, len(value))
        for i, sub in enumerate(value):
            self.item.check(sub, join(path, i))


class Map(Spec):
    """An object used as a string map (e.g. ``metadata``): bounded pairs, key and value lengths."""

    expected = "an object"

    def __init__(self, value: Spec, max_pairs: int | None = None, key_max_len: int | None = None) -> None:
        self.value = value
        self.max_pairs = max_pairs
        self.key_max_len = key_max_len

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ClientEventError.invalid_type(path, self.expected, value)
        if self.max_pairs is not None and len(value) > self.max_pairs:
            raise ClientEventError(
                f"Invalid '{path}': too many properties. Expected an object with at most {self.max_pairs} "
                f"properties, but got an object with {len(value)} properties instead.",
                code="object_above_max_properties",
                param=path,
            )
        for key, sub in value.items():
            if self.key_max_len is not None and len(key) > self.key_max_len:
                raise ClientEventError.too_long(join(path, key), self.key_max_len, len(key))
            self.value.check(sub, join(path, key))


class ByType(Spec):
    """One spec per JSON kind (e.g. ``tool_choice``: a string mode or a selector object)."""

    def __init__(self, expected: str, **by_kind: Spec) -> None:
        self.expected = expected
        self.by_kind = by_kind

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool):
            kind = "bool"
        elif isinstance(value, str):
            kind = "str"
        elif isinstance(value, int):
            kind = "int"
        elif isinstance(value, float):
            kind = "float"
        elif isinstance(value, dict):
            kind = "dict"
        elif isinstance(value, list):
            kind = "list"
        else:
            kind = "null"
        spec = self.by_kind.get(kind)
        if spec is None and kind == "int":
            spec = self.by_kind.get("float")
        if spec is None:
            raise ClientEventError.invalid_type(path, self.expected, value)
        spec.check(value, path)
