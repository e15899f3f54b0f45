"""How the mock streams and counts text: deltas of a few words, about four characters a token."""

from __future__ import annotations

import math
import re

__all__ = ["estimate_tokens", "text_deltas"]

_TEXT_TOKENS = re.compile(r"\s*\S+")
_GROUP_SIZES = (2, 3, 4, 3)


def text_deltas(text: str) -> list[str]:
    """``text`` cut into deltas of a few words each (leading spaces kept); they join back to ``text``."""
    tokens = _TEXT_TOKENS.findall(text)
    if not tokens:
        return [text] if text else []
    out: list[str] = []
    i = g = 0
    while i < len(tokens):
        size = _GROUP_SIZES[g % len(_GROUP_SIZES)]
        out.append("".join(tokens[i : i + size]))
        i += size
        g += 1
    tail = text[len("".join(out)) :]
    if tail:
        out[-1] += tail
    return out


def estimate_tokens(text: str) -> int:
    """Tokens the mock counts for ``text`` in usage objects: one per 4 characters, rounded up."""
    return math.ceil(len(text) / 4)
