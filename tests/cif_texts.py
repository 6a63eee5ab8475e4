"""CIF texts shared by tests: small hand-written files whose lines tests may edit to make bad input."""

from __future__ import annotations


def two_site_cubic_cif(a: float, first: str, second: str) -> str:
    """A P1 cubic cell of edge ``a`` Å with ``first`` at the origin and ``second`` at the body centre
    (rock salt's primitive motif in a simple cubic cell), occupancies written out."""
    return f"""data_{first}{second}
_cell_length_a {a}
_cell_length_b {a}
_cell_length_c {a}
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_type_symbol
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
{first} {first}0 0.0 0.0 0.0 1
{second} {second}1 0.5 0.5 0.5 1
"""
