"""The abuse tests reuse the remote tests' fixtures (agents, enrollment keys)."""

from __future__ import annotations

import sys
from pathlib import Path

REMOTE = Path(__file__).resolve().parents[1] / "remote"
if str(REMOTE) not in sys.path:
    sys.path.insert(0, str(REMOTE))

from remote_support import enroll, enrollment_key  # noqa: E402,F401
