"""Adsorbates on slabs: site finding, placement, CHGNet relaxation and ranking (``autoperi adsorb``)."""
