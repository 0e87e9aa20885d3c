"""Entry point for ``python -m remote.agent``."""

import sys

from .cli import main

sys.exit(main())
