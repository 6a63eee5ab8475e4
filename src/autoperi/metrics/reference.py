"""Reference sets for evaluation: a dataset name (``mp_20``, ``mp_20:val``) or a path to crystals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autoperi.crystal import Crystal
from autoperi.errors import DatasetError

DEFAULT_SPLIT = "test"
# What models in this project train on (the complete training splits are not all available); novelty is
# measured against these splits of a named dataset unless the user names another set.
TRAINING_SPLITS = ("train", "train_partial", "val")


@dataclass
class ReferenceSet:
    """Crystals to compare against, the files they came from, and the dataset they belong to (if known)."""

    crystals: list[Crystal]
    sources: list[Path]
    label: str
    dataset: str | None
    named: bool = False  # given as a dataset name rather than a path

    read_options = "niggli=True"


def dataset_of_path(path: Path) -> str | None:
    """The dataset a file belongs to, judged by its folder name (``.../mp_20/test.csv.gz`` is MP-20)."""
    from autoperi.metrics.coverage import COVERAGE_CUTOFFS

    for part in reversed(path.resolve().parts):
        if part in COVERAGE_CUTOFFS:
            return part
    return None


def _read_path(path: Path) -> ReferenceSet:
    from autoperi.data import load_file

    loaded = load_file(path, niggli=True)
    if not len(loaded):
        raise DatasetError(f"reference {path}: no usable crystals")
    return ReferenceSet(list(loaded), [path], str(path), dataset_of_path(path))


def _is_dataset(name: str) -> bool:
    from autoperi.data import DATASETS
    from autoperi.data.porous import POROUS_SETS

    return name in DATASETS or name in POROUS_SETS


def load_reference(spec: str) -> ReferenceSet:
    """Resolve ``NAME``, ``NAME:SPLIT`` (default split: test) or a path to the reference crystals."""
    from autoperi.data import load_split

    path = Path(spec)
    if path.exists():
        return _read_path(path)
    name, _, split = spec.partition(":")
    if not _is_dataset(name):
        raise DatasetError(f"reference '{spec}' is neither an existing path nor a known dataset name")
    loaded = load_split(name, split or DEFAULT_SPLIT)
    return ReferenceSet(list(loaded), list(loaded.sources), f"{name}:{split or DEFAULT_SPLIT}", name, named=True)


def training_reference(dataset: str) -> ReferenceSet:
    """The available training-side splits of a dataset, joined (for novelty)."""
    from autoperi.data import available_splits

    splits = [s for s in TRAINING_SPLITS if s in available_splits(dataset)]
    if not splits:
        raise DatasetError(f"dataset '{dataset}' has none of the splits {', '.join(TRAINING_SPLITS)}")
    parts = [load_reference(f"{dataset}:{split}") for split in splits]
    return ReferenceSet(
        [c for part in parts for c in part.crystals],
        [s for part in parts for s in part.sources],
        "+".join(part.label for part in parts),
        dataset,
        named=True,
    )


def novelty_reference(specs: list[str] | None, reference: ReferenceSet) -> ReferenceSet:
    """The crystals novelty is measured against: the named sets, else the reference's training splits."""
    if specs:
        parts = [load_reference(spec) for spec in specs]
        return ReferenceSet(
            [c for part in parts for c in part.crystals],
            [s for part in parts for s in part.sources],
            "+".join(part.label for part in parts),
            reference.dataset,
        )
    if reference.named and reference.dataset is not None:
        return training_reference(reference.dataset)
    return reference
