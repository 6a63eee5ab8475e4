"""Names of the choices the library accepts, importable without torch, so that the CLI's options (and
their ``--help``) come from the library instead of repeating its literals."""

INTEGRATION_METHODS = ("euler", "midpoint", "heun", "rk4")  # flow.samplers.integrate
CSP_STRATEGIES = ("template", "flow", "hybrid")  # generative.csp.predict_structures
CSP_RANKINGS = (
    "energy",
    "learned",
    "popularity",
    "distinct",
)  # generative.csp.CSPSettings.rank_by: how templates are ordered
STRUCTURE_STRATEGIES = ("hybrid", "flow")  # how a composition-first generator predicts structures

# Energy above hull (eV/atom) counted as stable / metastable by default (physics.hull, autoperi screen).
STABLE_THRESHOLD = 0.0
METASTABLE_THRESHOLD = 0.1
