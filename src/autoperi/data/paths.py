"""Where datasets live: one setting, from the environment (caches: :mod:`autoperi.caching`)."""

from __future__ import annotations

import os
from pathlib import Path

from autoperi.caching import user_cache_dir

DATA_ROOT_ENV = "AUTOPERI_DATA_ROOT"

# In a source checkout the shared benchmark data sits beside the repository (../shared/data).
_CHECKOUT_SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def data_root() -> Path:
    """``$AUTOPERI_DATA_ROOT``; else ``../shared/data`` beside a source checkout; else the user cache."""
    configured = os.environ.get(DATA_ROOT_ENV)
    if configured:
        return Path(configured).expanduser()
    if _CHECKOUT_SHARED_DATA.is_dir():
        return _CHECKOUT_SHARED_DATA
    return user_cache_dir() / "data"
