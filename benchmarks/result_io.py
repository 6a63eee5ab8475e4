"""A benchmark's result: the machine facts every result records, printed and saved as JSON where asked."""

from __future__ import annotations

import json
import os
from pathlib import Path


def machine_facts() -> dict[str, int | None]:
    import torch

    return {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count()}


def emit(result: dict, path: Path | None, indent: int = 2, echo: bool = True) -> None:
    """Print ``result`` as JSON (unless ``echo`` is False) and write it to ``path`` when one is given."""
    text = json.dumps(result, indent=indent)
    if echo:
        print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
