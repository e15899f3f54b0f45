"""Server-side ids in the service's format: a prefix and 21 alphanumerics."""

from __future__ import annotations

import os
import random
import string

__all__ = ["IdFactory"]

_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """``new("item_")`` -> ``item_`` + 21 random alphanumerics (``call_`` ids get 16, as observed)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(int.from_bytes(os.urandom(8), "little") if seed is None else seed)
        self._choices = self._rng.choices

    def new(self, prefix: str, length: int = 21) -> str:
        """A fresh id ``prefix`` + ``length`` characters."""
        return prefix + "".join(self._choices(_ALPHABET, k=length))
