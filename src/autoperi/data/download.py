"""Download the published split files and verify them against their checksums."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from autoperi.data.registry import CDVAE_RAW_BASE, SPLITS, RemoteFile, dataset_spec
from autoperi.errors import DatasetError
from autoperi.progress import progress_bar

DOWNLOAD_BASE_ENV = "AUTOPERI_DOWNLOAD_BASE"
_CHUNK = 1 << 16


def git_blob_sha1(data: bytes) -> str:
    """The id ``git hash-object`` gives a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def verify(data: bytes, remote: RemoteFile) -> None:
    if git_blob_sha1(data) != remote.git_blob_sha1:
        raise DatasetError(f"checksum mismatch for {remote.split}.csv: git blob id {git_blob_sha1(data)}")
    if remote.sha256 is not None and hashlib.sha256(data).hexdigest() != remote.sha256:
        raise DatasetError(f"checksum mismatch for {remote.split}.csv: sha256 differs from the registry")


def _fetch(url: str, label: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            chunks = []
            with progress_bar(total, label, "B", unit_scale=True) as progress:
                while chunk := response.read(_CHUNK):
                    chunks.append(chunk)
                    progress.update(len(chunk))
            return b"".join(chunks)
    except urllib.error.HTTPError as error:
        raise DatasetError(f"download of {url} failed: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DatasetError(f"download of {url} failed: {reason}") from None


def download_split(
    name: str, split: str, root: Path, base_url: str | None = None, timeout: float = 60.0
) -> tuple[Path, bool]:
    """Fetch one split into ``root/name/split.csv``; returns the path and whether it was downloaded.

    A file already there that passes the checksums is kept. The file appears only once verified.
    """
    remote = dataset_spec(name).remote(split)
    target = root / name / f"{split}.csv"
    if target.exists():
        try:
            verify(target.read_bytes(), remote)
            return target, False
        except DatasetError:
            pass  # a stale or corrupt copy: fetch it again
    base = (base_url or os.environ.get(DOWNLOAD_BASE_ENV) or CDVAE_RAW_BASE).rstrip("/")
    data = _fetch(f"{base}/{remote.relative_url(name)}", f"{name}/{split}.csv", timeout)
    verify(data, remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.part")
    partial.write_bytes(data)
    partial.replace(target)
    return target, True


def download_dataset(
    name: str, root: Path, splits: tuple[str, ...] = SPLITS, base_url: str | None = None
) -> list[tuple[Path, bool]]:
    return [download_split(name, split, root, base_url) for split in splits]
