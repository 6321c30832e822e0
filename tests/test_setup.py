"""The set-up stays reproducible: pyproject, constraints.txt and environment.yml agree."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _direct_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return {_name(r) for r in requirements}


def _environment_pins() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    pins = {}
    for entry in pip_section:
        if entry.startswith("-e"):
            continue
        assert "==" in entry, f"environment.yml: {entry!r} is not pinned with =="
        requirement, version = entry.split("==")
        pins[_name(requirement)] = version
    return pins


def test_every_direct_dependency_is_pinned_in_constraints():
    missing = _direct_dependencies() - set(_pins())
    assert not missing, f"constraints.txt lacks {sorted(missing)}: run make constraints"


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert set(_environment_pins()) == _direct_dependencies()


def test_environment_yml_versions_equal_the_constraints():
    pins = _pins()
    drift = {name: (v, pins[name]) for name, v in _environment_pins().items() if pins.get(name) != v}
    assert not drift, f"environment.yml vs constraints.txt: {drift}"


def test_environment_yml_python_matches_requires_python():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.lstrip(">=").split(".")))


def test_makefile_installs_with_the_constraints():
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
