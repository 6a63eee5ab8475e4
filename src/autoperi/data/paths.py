"""Where datasets and caches live. One setting each, from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT_ENV = "AUTOPERI_DATA_ROOT"
CACHE_DIR_ENV = "AUTOPERI_CACHE_DIR"

# In a source checkout the shared benchmark data sits beside the repository (../shared/data).
_CHECKOUT_SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autoperi"


def data_root() -> Path:
    """``$AUTOPERI_DATA_ROOT``; else ``../shared/data`` beside a source checkout; else the user cache."""
    configured = os.environ.get(DATA_ROOT_ENV)
    if configured:
        return Path(configured).expanduser()
    if _CHECKOUT_SHARED_DATA.is_dir():
        return _CHECKOUT_SHARED_DATA
    return user_cache_dir() / "data"


def cache_dir() -> Path:
    """``$AUTOPERI_CACHE_DIR``, else ``~/.cache/autoperi``: parsed-tensor caches and derived references."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else user_cache_dir()
