"""The benchmark datasets (CDVAE splits): public download addresses, checksums and expected sizes."""

from __future__ import annotations

from dataclasses import dataclass

from autoperi.errors import DatasetError

# CDVAE's repository at a fixed commit, so the bytes behind each address never change.
CDVAE_RAW_BASE = "https://raw.githubusercontent.com/txie-93/cdvae/f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class RemoteFile:
    """One published split file. ``git_blob_sha1`` is what ``git hash-object`` prints for the file."""

    split: str
    git_blob_sha1: str
    sha256: str | None = None

    def relative_url(self, dataset: str) -> str:
        return f"data/{dataset}/{self.split}.csv"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    citation: str
    rows: dict[str, int]  # published row counts per split
    files: tuple[RemoteFile, ...]

    def remote(self, split: str) -> RemoteFile:
        for remote in self.files:
            if remote.split == split:
                return remote
        raise DatasetError(f"{self.name} has no published split {split!r} (splits: {', '.join(SPLITS)})")


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mp_20",
            description="Materials Project crystals with at most 20 atoms per cell (CDVAE split)",
            citation="Jain et al., APL Materials 1, 011002 (2013); split from Xie et al., ICLR 2022 (CDVAE)",
            rows={"train": 27136, "val": 9047, "test": 9046},
            files=(
                RemoteFile("train", "b1c9d498565ac2fd8d075a51ff2ef5e51ba6c21f"),
                RemoteFile("val", "7efe4d7ebeb4f460ceaad35e5326c42111d9c9a1"),
                RemoteFile("test", "5dc643041df53f5ce4970a79930ad262b4f07acd"),
            ),
        ),
        DatasetSpec(
            name="perov_5",
            description="Cubic perovskites, 5 atoms per cell (CDVAE split)",
            citation="Castelli et al., Energy Environ. Sci. 5, 9034 and 5814 (2012); split from CDVAE",
            rows={"train": 11356, "val": 3787, "test": 3785},
            files=(
                RemoteFile("train", "0769074b5d51d293b765c4371b8f55c468c9c9f2"),
                RemoteFile(
                    "val",
                    "4a2c8dde98347dd0e01fa83dcf3982c2abe98f9f",
                    "326f401219901270374b71e2faff63df3a29a99fd26f469993b9f476b693daf2",
                ),
                RemoteFile(
                    "test",
                    "d3c5d5af4b27a2a139149f2bb73c8a3dba9d8ac1",
                    "a85878c685037f0a578257f6d4fcdde00e968dbab73c5f1e90ecef65218513f6",
                ),
            ),
        ),
        DatasetSpec(
            name="carbon_24",
            description="Carbon allotropes from AIRSS at 10 GPa, 6-24 atoms per cell (CDVAE split)",
            citation="Pickard, Materials Cloud 2020.0026/v1; split from CDVAE",
            rows={"train": 6091, "val": 2032, "test": 2030},
            files=(
                RemoteFile("train", "5e7ae970fbad8ddc46b6963e8cd6e425f11783a6"),
                RemoteFile(
                    "val",
                    "b3e29b927883642426ca1d9632d00359b412742b",
                    "36c00689cd63073c954a58bc6ed6e2adb7aeed5a630c994970959a1babffd50e",
                ),
                RemoteFile(
                    "test",
                    "9beca843fde489de1fe288b32f9e3ff710d42803",
                    "386b17c08816f434818d51e46687bf72ff3f92348f3ba24823e4758f1fe8a969",
                ),
            ),
        ),
    )
}


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})") from None
