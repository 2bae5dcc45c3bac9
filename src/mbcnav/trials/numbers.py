"""Numbers written as words in eligibility text ("two prior lines", "within twenty-one days"): one table for the
parser and the readers of trials/kinds.py."""

from __future__ import annotations

NUMBER_WORDS: dict[str, int] = {
    "zero": 0,
    "a single": 1,
    "single": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "twenty-one": 21,
    "twenty-eight": 28,
    "thirty": 30,
}


def number(text: str) -> int:
    """'3' -> 3, 'three' -> 3 (a key of NUMBER_WORDS; KeyError otherwise)."""
    text = text.strip()
    return int(text) if text.isdigit() else NUMBER_WORDS[text]
