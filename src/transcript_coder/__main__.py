"""``python -m transcript_coder ...``: the same command as ``transcript-coder ...``."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
