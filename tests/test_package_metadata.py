"""pyproject.toml declares every runtime dependency (ranges) and requirements.txt pins each one inside its
range: one source of truth for what the package needs, one lock for the venv and CI."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
# Imported by repository-only features (the sandbox deployer, `audit --config`): infra/ is not in the wheel.
REPOSITORY_ONLY = {"infra"}
# _typeshed: typeshed's stub-only module, imported under TYPE_CHECKING.
NOT_DEPENDENCIES = {"bucketguard", *REPOSITORY_ONLY, "_typeshed"}


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = map(Requirement, project["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements if r.marker is None or r.marker.evaluate()}


def pinned() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_every_declared_dependency_is_pinned_inside_its_range() -> None:
    pins = pinned()
    for name, requirement in declared().items():
        assert name in pins, f"{name}: declared in pyproject.toml, not pinned in requirements.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} outside {requirement}"


def test_every_third_party_import_of_the_package_is_declared() -> None:
    distributions = packages_distributions()
    names = declared()
    missing = set()
    for path in (REPO / "bucketguard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in NOT_DEPENDENCIES:
                    continue
                owners = {canonicalize_name(d) for d in distributions.get(top, [top])}
                if not owners & set(names):
                    missing.add(f"{top} ({path.relative_to(REPO)})")
    assert not missing, sorted(missing)
