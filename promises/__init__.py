"""Promise Theory for mazesim agents (placeholder; the package grows in its own module files)."""

from __future__ import annotations

from promises.catalogue import ACTION_TEMPLATES, ActionTemplate

__all__ = ["ACTION_TEMPLATES", "ActionTemplate"]
