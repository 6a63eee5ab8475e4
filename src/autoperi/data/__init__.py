"""Datasets: the benchmark registry, downloads, the parsed-tensor cache, splits and statistics."""

from autoperi.caching import cache_dir
from autoperi.data.datasets import CrystalDataset, available_splits, load_file, load_split
from autoperi.data.paths import data_root
from autoperi.data.registry import DATASETS, dataset_spec

__all__ = [
    "DATASETS",
    "CrystalDataset",
    "available_splits",
    "cache_dir",
    "data_root",
    "dataset_spec",
    "load_file",
    "load_split",
]
