"""Where caches live and how their inputs are keyed: the one cache folder and the one file hasher."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_DIR_ENV = "AUTOPERI_CACHE_DIR"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/autoperi``, else ``~/.cache/autoperi``."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autoperi"


def cache_dir() -> Path:
    """``$AUTOPERI_CACHE_DIR``, else :func:`user_cache_dir`: parsed tensors, fingerprints, hull references."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else user_cache_dir()


def path_sha256(path: Path) -> str:
    """sha256 of a file's bytes; of a folder, of each file's path (relative to it) and bytes, in sorted order."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()
