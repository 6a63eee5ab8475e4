"""Named datasets and splits, including AutoPeri's low-data protocol, loaded through the cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal
from autoperi.data.cache import cache_path, read_cached, write_cache
from autoperi.data.paths import data_root
from autoperi.data.polymers import POLYMER_SET, load_polymer_split
from autoperi.data.porous import POROUS_SETS, POROUS_SPLITS, load_porous_split, porous_file
from autoperi.data.registry import dataset_spec
from autoperi.errors import DatasetError
from autoperi.io.readers import ReadReport, read_crystals
from autoperi.limits import atom_limit

FILE_SPLITS = ("train", "train_partial", "val", "test")
# Low-data protocol: the complete training splits are not all available, so models train on the
# published validation split plus any partial training rows, minus a seeded internal validation
# slice, and are scored on the untouched published test split.
LOWDATA_SPLITS = ("lowdata_train", "lowdata_val")
LOWDATA_POOL = ("val", "train_partial")
LOWDATA_VAL_FRACTION = 0.1
LOWDATA_SEED = 0


@dataclass
class CrystalDataset(Sequence[Crystal]):
    """Crystals of one split, with where they came from and what was skipped while reading."""

    name: str
    crystals: list[Crystal]
    sources: list[str] = field(default_factory=list)
    reports: list[ReadReport] = field(default_factory=list)
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.crystals)

    def __getitem__(self, index):  # type: ignore[override]
        return self.crystals[index]

    def __iter__(self) -> Iterator[Crystal]:
        return iter(self.crystals)

    @property
    def num_skipped(self) -> int:
        return sum(report.num_skipped for report in self.reports)


def load_file(
    path: str | Path,
    niggli: bool = True,
    max_atoms: int | None = None,
    workers: int | None = None,
    use_cache: bool = True,
) -> CrystalDataset:
    """Crystals from any readable input; CSV files go through the parsed-tensor cache. ``max_atoms``: the
    atom limit (default: the setting of :mod:`autoperi.limits`)."""
    path = Path(path)
    max_atoms = atom_limit(max_atoms).max_atoms
    cacheable = use_cache and path.is_file() and path.name.lower().endswith((".csv", ".csv.gz"))
    cache_file = cache_path(path, {"niggli": niggli, "max_atoms": max_atoms}) if cacheable else None
    report = read_cached(cache_file) if cache_file else None
    from_cache = report is not None
    if report is None:
        report = read_crystals(path, max_atoms=max_atoms, niggli=niggli, workers=workers)
        if cache_file:
            write_cache(cache_file, report)
    return CrystalDataset(path.name, report.crystals, [str(path)], [report], from_cache)


def split_file(name: str, split: str, root: Path | None = None) -> Path:
    folder = (root or data_root()) / name
    for candidate in (folder / f"{split}.csv", folder / f"{split}.csv.gz"):
        if candidate.exists():
            return candidate
    raise DatasetError(
        f"{name}/{split} not found under {folder} (set AUTOPERI_DATA_ROOT, or run `autoperi data download {name}`)"
    )


def available_splits(name: str, root: Path | None = None) -> list[str]:
    """The published splits whose files are present; a porous set's ``train``, ``val``, ``test`` where its
    primary file is."""
    if name in POROUS_SETS:
        try:
            porous_file(name, next(iter(POROUS_SETS[name].files)), root)
        except DatasetError:
            return []
        return list(POROUS_SPLITS)
    dataset_spec(name)
    present = []
    for split in FILE_SPLITS:
        try:
            split_file(name, split, root)
            present.append(split)
        except DatasetError:
            continue
    return present


def lowdata_partition(pool_size: int, seed: int = LOWDATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, internal validation) of the low-data pool; the slice is seeded and sorted."""
    order = np.random.default_rng(seed).permutation(pool_size)
    num_val = round(pool_size * LOWDATA_VAL_FRACTION)
    return np.sort(order[num_val:]), np.sort(order[:num_val])


def load_split(
    name: str,
    split: str,
    root: Path | None = None,
    niggli: bool = True,
    max_atoms: int | None = None,
    workers: int | None = None,
) -> CrystalDataset:
    """A published split (train, train_partial, val, test) or a low-data one (lowdata_train, lowdata_val); the
    splits of a porous set (:mod:`autoperi.data.porous`) and of the polymer chains (:mod:`autoperi.data.polymers`)
    for their names."""
    if name == POLYMER_SET:
        return load_polymer_split(split)
    if name in POROUS_SETS:
        return load_porous_split(name, split, root, niggli, max_atoms, workers)
    dataset_spec(name)
    if split in FILE_SPLITS:
        loaded = load_file(split_file(name, split, root), niggli, max_atoms, workers)
        loaded.name = f"{name}/{split}"
        return loaded
    if split not in LOWDATA_SPLITS:
        raise DatasetError(f"unknown split {split!r} (splits: {', '.join(FILE_SPLITS + LOWDATA_SPLITS)})")
    parts = [
        load_split(name, part, root, niggli, max_atoms, workers)
        for part in available_splits(name, root)
        if part in LOWDATA_POOL
    ]
    pool = [crystal for part in parts for crystal in part]
    train_index, val_index = lowdata_partition(len(pool))
    chosen = train_index if split == "lowdata_train" else val_index
    return CrystalDataset(
        f"{name}/{split}",
        [pool[i] for i in chosen],
        [s for part in parts for s in part.sources],
        [r for part in parts for r in part.reports],
        all(part.from_cache for part in parts),
    )
