"""Every declared dependency is imported by the package (none is dead weight), and the source imports only
declared or standard-library modules."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
import warnings
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def declared_distributions() -> set[str]:
    """The core dependencies and those of the optional extras the package imports (not the test tools)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for name, group in project["optional-dependencies"].items() if name != "test" for r in group]
    return {re.split(r"[<>=!~ \[]", requirement)[0].lower() for requirement in [*project["dependencies"], *extras]}


def imported_top_level_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "src" / "autoperi").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def test_every_declared_dependency_is_imported_and_every_import_is_declared():
    distributions = {module: {d.lower() for d in names} for module, names in packages_distributions().items()}
    imported = imported_top_level_modules() - set(sys.stdlib_module_names) - {"autoperi"}
    declared = declared_distributions()
    providers = {module: distributions.get(module, {module}) for module in imported}
    assert declared - set().union(*providers.values()) == set(), "declared but never imported"
    assert {module for module, dists in providers.items() if not dists & declared} == set(), "imported, undeclared"


def test_package_metadata_resolves_without_setuptools_warnings():
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distribution = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert distribution.metadata.name == "autoperi"
