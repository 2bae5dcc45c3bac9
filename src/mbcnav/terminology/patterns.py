"""Regular expressions built from vocabulary tables: one alternation helper for every reader of a phrase list."""

from __future__ import annotations

from collections.abc import Iterable


def alternation(phrases: Iterable[str], *, longest_first: bool = False, word_bounded: bool = False) -> str:
    """One regular expression matching any of a table's phrases, each in its own group: the longest first when a
    shorter phrase could win at the same position, between word boundaries when the table's phrases are words."""
    items = sorted(phrases, key=len, reverse=True) if longest_first else list(phrases)
    alt = "|".join(f"(?:{p})" for p in items)
    return rf"\b(?:{alt})\b" if word_bounded else alt
