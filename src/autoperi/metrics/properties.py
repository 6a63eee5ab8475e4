"""Properties of crystals, judged by a property regressor trained apart from the generators.

The judge of property-targeted generation: :data:`JUDGE_MODEL` (``autoperi.nn.regressor``, a PaiNN
regressor of MP-20's band gap, formation energy per atom and energy above hull; its test-split MAE is in
benchmarks/results/issue19/properties.md). Callers load it with
``load_model(JUDGE_MODEL, "property_regressor")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal

JUDGE_MODEL = "mp_20-property_regressor"


@torch.no_grad()
def predict_properties(
    regressor: nn.Module, crystals: Sequence[Crystal], batch_size: int = 64
) -> dict[str, np.ndarray]:
    """The regressor's prediction of each of its properties for every crystal, as float arrays."""
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in regressor.config.properties}
    for start in range(0, len(crystals), batch_size):
        batch = CrystalBatch.from_crystals(crystals[start : start + batch_size])
        for name, values in regressor.predict(batch).items():
            chunks[name].append(values.double().cpu().numpy())
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in chunks.items()}
