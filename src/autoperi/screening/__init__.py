"""Screening: candidates -> CHGNet relaxation (Dask tasks) -> energy above hull -> S.U.N., resumable on disk.

``candidates`` reads, filters and freezes the candidate list, ``store`` streams one record per relaxed
candidate to disk, ``pipeline`` runs the relaxations and derives the table, ``report`` writes the summary
and its plots, ``html_report`` the self-contained ``report.html``. See docs/screening.md.
"""
