"""A parsed-tensor cache: a CSV is parsed once (in parallel), later loads read flat tensors.

The cache key is the sha256 of the source file plus the parse options, so a changed source file is
parsed again. Files are written with ``torch.save`` and read with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoperi.caching import cache_dir, path_sha256
from autoperi.crystal import BULK_PBC, Crystal
from autoperi.io.readers import ReadReport

CACHE_FORMAT_VERSION = 4  # 3: every skipped row named; CIF checks of issue 15; 4: duplicated sites refused


def cache_path(source: Path, options: dict[str, Any]) -> Path:
    key = f"{path_sha256(source)}|{sorted(options.items())}|v{CACHE_FORMAT_VERSION}"
    name = source.name.split(".")[0]
    return cache_dir() / "parsed" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"


def _property_columns(crystals: list[Crystal]) -> list[str]:
    return sorted({key for crystal in crystals for key in crystal.properties})


def report_to_payload(report: ReadReport) -> dict[str, Any]:
    crystals = report.crystals
    columns = _property_columns(crystals)
    return {
        "source": report.source,
        "lattices": torch.from_numpy(np.stack([c.lattice for c in crystals]) if crystals else np.zeros((0, 3, 3))),
        "frac_coords": torch.from_numpy(
            np.concatenate([c.frac_coords for c in crystals]) if crystals else np.zeros((0, 3))
        ),
        "atomic_numbers": torch.from_numpy(
            np.concatenate([c.atomic_numbers for c in crystals]) if crystals else np.zeros(0, dtype=np.int64)
        ),
        "num_atoms": torch.tensor([c.num_atoms for c in crystals], dtype=torch.long),
        "pbc": torch.tensor([c.pbc for c in crystals], dtype=torch.bool).reshape(-1, 3),
        "ids": [c.id for c in crystals],
        "properties": {col: [c.properties.get(col) for c in crystals] for col in columns},
        "errors": [list(error) for error in report.errors],
    }


def payload_to_report(payload: dict[str, Any]) -> ReadReport:
    lattices = payload["lattices"].numpy()
    frac = payload["frac_coords"].numpy()
    numbers = payload["atomic_numbers"].numpy()
    bounds = np.concatenate([[0], np.cumsum(payload["num_atoms"].numpy())])
    columns = payload["properties"]
    # Files written before pbc was stored hold bulk crystals only (CSV rows).
    pbc = payload["pbc"].tolist() if "pbc" in payload else [BULK_PBC] * len(payload["ids"])
    crystals = [
        Crystal(
            lattices[index],
            frac[bounds[index] : bounds[index + 1]],
            numbers[bounds[index] : bounds[index + 1]],
            id=crystal_id,
            properties={col: values[index] for col, values in columns.items() if values[index] is not None},
            pbc=tuple(pbc[index]),
        )
        for index, crystal_id in enumerate(payload["ids"])
    ]
    return ReadReport(
        source=payload["source"],
        crystals=crystals,
        errors=[(reason, message) for reason, message in payload["errors"]],
    )


def read_cached(path: Path) -> ReadReport | None:
    if not path.exists():
        return None
    try:
        return payload_to_report(torch.load(path, weights_only=True))
    except Exception:
        return None  # an unreadable or older cache file is simply rebuilt


def write_cache(path: Path, report: ReadReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")  # concurrent writers never share a temporary file
    torch.save(report_to_payload(report), partial)
    partial.replace(path)
