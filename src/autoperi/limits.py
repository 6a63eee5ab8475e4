"""The atom limit: the most atoms per cell that readers, loaders and commands accept.

It is a setting, not a constant: a command's ``--max-atoms``, else the ``AUTOPERI_MAX_ATOMS`` environment
variable, else 512. Nothing in the graph, the networks or sampling needs the limit (their cost grows
linearly with atoms at a fixed cutoff, see benchmarks/scaling.py; the Fourier network's quadratically);
it only keeps a stray huge cell from costing minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from autoperi.errors import AutoPeriError, CrystalError

DEFAULT_MAX_ATOMS = 512
ATOM_LIMIT_VARIABLE = "AUTOPERI_MAX_ATOMS"


@dataclass(frozen=True)
class AtomLimit:
    """At most ``max_atoms`` atoms per cell (a whole number, at least 1)."""

    max_atoms: int = DEFAULT_MAX_ATOMS

    def __post_init__(self) -> None:
        if isinstance(self.max_atoms, bool) or not isinstance(self.max_atoms, int) or self.max_atoms < 1:
            raise AutoPeriError(f"the atom limit must be a whole number of atoms, at least 1; got {self.max_atoms!r}")

    @classmethod
    def from_environment(cls) -> AtomLimit:
        """``$AUTOPERI_MAX_ATOMS`` when set, else the default."""
        text = os.environ.get(ATOM_LIMIT_VARIABLE, "").strip()
        if not text:
            return cls()
        try:
            return cls(int(text))
        except ValueError:
            raise AutoPeriError(f"{ATOM_LIMIT_VARIABLE}={text!r} is not a whole number of atoms") from None

    def check(self, num_atoms: int) -> None:
        """Raise a one-line :class:`CrystalError` (reason ``too_many_atoms``) for a cell over the limit."""
        if num_atoms > self.max_atoms:
            raise CrystalError(
                "too_many_atoms",
                f"{num_atoms} atoms per cell exceeds the atom limit of {self.max_atoms} "
                f"(raise it with --max-atoms or {ATOM_LIMIT_VARIABLE})",
            )


def atom_limit(max_atoms: int | None = None) -> AtomLimit:
    """The limit in force: ``max_atoms`` when given, else ``$AUTOPERI_MAX_ATOMS``, else 512."""
    return AtomLimit.from_environment() if max_atoms is None else AtomLimit(max_atoms)
