"""Datasets: row counts against the shared data README, the low-data protocol and the parsed cache."""

import shutil
import time

import numpy as np
import pandas as pd
import pytest

from autoperi.data import DATASETS, available_splits, data_root, load_file, load_split
from autoperi.data.datasets import LOWDATA_VAL_FRACTION
from autoperi.errors import DatasetError

# The shared data README's row counts (split files present on this machine).
README_ROWS = {
    ("mp_20", "val"): 9047,
    ("mp_20", "test"): 9046,
    ("mp_20", "train_partial"): 3420,
    ("perov_5", "val"): 3787,
    ("perov_5", "test"): 3785,
    ("perov_5", "train_partial"): 116,
    ("carbon_24", "val"): 2032,
    ("carbon_24", "test"): 2030,
}


@pytest.mark.parametrize(("name", "split"), sorted(README_ROWS))
def test_every_row_parses_and_counts_match_the_readme(shared_data_root, name, split):
    dataset = load_split(name, split)
    assert dataset.num_skipped == 0
    assert len(dataset) == README_ROWS[name, split]
    assert len({c.id for c in dataset}) == len(dataset)
    if split in ("val", "test"):
        assert len(dataset) == DATASETS[name].rows[split]


def test_published_splits_are_disjoint(shared_data_root):
    ids = {split: {c.id for c in load_split("mp_20", split)} for split in ("train_partial", "val", "test")}
    assert not ids["val"] & ids["test"] and not ids["train_partial"] & (ids["val"] | ids["test"])


def test_carbon_has_no_training_rows(shared_data_root):
    assert available_splits("carbon_24") == ["val", "test"]


@pytest.mark.parametrize("name", ["perov_5", "carbon_24"])
def test_lowdata_protocol(shared_data_root, name):
    train = load_split(name, "lowdata_train")
    val = load_split(name, "lowdata_val")
    pool = [c for part in available_splits(name) if part in ("val", "train_partial") for c in load_split(name, part)]
    train_ids, val_ids = [c.id for c in train], [c.id for c in val]
    assert not set(train_ids) & set(val_ids)
    assert sorted(train_ids + val_ids) == sorted(c.id for c in pool)
    assert len(val) == round(LOWDATA_VAL_FRACTION * len(pool))
    assert [c.id for c in load_split(name, "lowdata_val")] == val_ids  # seeded
    test_ids = {c.id for c in load_split(name, "test")}
    assert not test_ids & set(train_ids)


def test_unknown_names_raise(shared_data_root):
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_split("mp_200", "val")
    with pytest.raises(DatasetError, match="unknown split"):
        load_split("mp_20", "validation")
    with pytest.raises(DatasetError, match="not found"):
        load_split("carbon_24", "train")


def test_data_root_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOPERI_DATA_ROOT", str(tmp_path))
    assert data_root() == tmp_path
    with pytest.raises(DatasetError, match=str(tmp_path)):
        load_split("perov_5", "val")


def test_cache_hit_and_invalidation(shared_data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "val.csv"
    shutil.copy(shared_data_root / "perov_5" / "val.csv", source)
    first = load_file(source, workers=1)
    second = load_file(source, workers=1)
    assert not first.from_cache and second.from_cache
    for a, b in zip(first, second, strict=True):
        assert a.id == b.id and a.properties == b.properties
        np.testing.assert_array_equal(a.lattice, b.lattice)
        np.testing.assert_array_equal(a.frac_coords, b.frac_coords)
        np.testing.assert_array_equal(a.atomic_numbers, b.atomic_numbers)
    frame = pd.read_csv(source)
    frame = frame.iloc[:10].copy()
    frame.loc[0, "heat_ref"] = 123.0
    frame.to_csv(source, index=False)
    changed = load_file(source, workers=1)
    assert not changed.from_cache
    assert len(changed) == 10 and changed[0].properties["heat_ref"] == 123.0
    assert load_file(source, workers=1).from_cache


def test_corrupt_cache_file_is_rebuilt(shared_data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    source = shared_data_root / "perov_5" / "train_partial.csv"
    load_file(source, workers=1)
    (cached,) = (tmp_path / "parsed").glob("*.pt")
    cached.write_bytes(b"not a torch file")
    again = load_file(source, workers=1)
    assert not again.from_cache and len(again) == 116


def test_second_mp20_load_is_fast(shared_data_root):
    load_split("mp_20", "val")
    start = time.perf_counter()
    dataset = load_split("mp_20", "val")
    elapsed = time.perf_counter() - start
    assert dataset.from_cache and len(dataset) == 9047
    assert elapsed < 3.0, f"cached MP-20 val load took {elapsed:.2f} s"
