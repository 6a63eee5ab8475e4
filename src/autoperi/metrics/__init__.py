"""Evaluation metrics: validity, coverage, distributions, uniqueness/novelty, CSP and reconstruction.

Definitions and deviations from the CDVAE/DiffCSP reference code are in docs/evaluation.md.
"""
