"""``python -m waapp`` and the ``waapp`` command."""

from __future__ import annotations

import sys

from waapp.cli import main

if __name__ == "__main__":
    sys.exit(main())
