"""Reading and writing crystals: pymatgen and ASE adapters, CIF, extxyz, CDVAE CSV and folders."""

from autoperi.io.readers import ReadReport, read_crystals, read_one_crystal

__all__ = ["ReadReport", "read_crystals", "read_one_crystal"]
