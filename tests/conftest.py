"""Shared fixtures: the benchmark data root (``$AUTOPERI_DATA_ROOT``, default ../shared/data) and samples."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from autoperi.crystal import Crystal
from autoperi.data import data_root, load_split

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # one thread per xdist worker: the workers already fill the cores


@pytest.fixture(scope="session")
def shared_data_root():
    root = data_root()
    if not (root / "perov_5" / "val.csv").exists():
        pytest.fail(f"benchmark data not found under {root}: set AUTOPERI_DATA_ROOT")
    return root


@pytest.fixture(scope="session")
def mp20_sample(shared_data_root) -> list[Crystal]:
    """24 MP-20 validation crystals spread over the split."""
    crystals = load_split("mp_20", "val")
    return [crystals[i] for i in np.linspace(0, len(crystals) - 1, 24).astype(int)]


@pytest.fixture(scope="session")
def perov_sample(shared_data_root) -> list[Crystal]:
    crystals = load_split("perov_5", "val")
    return [crystals[i] for i in range(0, 240, 20)]


@pytest.fixture
def nacl() -> Crystal:
    return Crystal(5.64 * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17], id="NaCl")
