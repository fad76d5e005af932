"""Lets the tests here import their helper modules (``reference_rules``, ``strategies``) by name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
