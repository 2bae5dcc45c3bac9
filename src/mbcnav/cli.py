"""The `mbcnav` console script (pyproject: `mbcnav = "mbcnav.cli:main"`). The commands live in mbcnav.commands.

Exit codes (mbcnav.outcome): 0 done, 1 done with records skipped, 2 unusable input or user error, 70 internal error,
130 interrupted."""

from __future__ import annotations

import sys

from mbcnav.commands import build_parser, main
from mbcnav.outcome import EXIT_INTERNAL, EXIT_OK, EXIT_UNUSABLE, fail

__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_UNUSABLE", "build_parser", "fail", "main"]

if __name__ == "__main__":
    sys.exit(main())
