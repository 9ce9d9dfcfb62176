"""No declared dependency goes unused: each is imported by the project's code or tests, or is
a tool the project runs by name (listed below with the reason)."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Used without an import statement of ours.
USED_OTHERWISE = {
    "python-multipart": "FastAPI parses form posts and uploads with it",
    "py-spy": "`yiyang bench --profile` runs the py-spy command",
    "jinja2": "the pages' templates, through starlette.templating.Jinja2Templates",
    "pytest-asyncio": "pytest plugin: asyncio_mode = auto (pyproject.toml)",
    "pytest-timeout": "pytest plugin: timeout = 300 (pyproject.toml)",
    "pytest-xdist": "pytest plugin: the gate runs `pytest -n 2` (dev.py, parallel())",
    "ruff": "`python3 dev.py test` runs ruff check and ruff format --check",
    "mypy": "`python3 dev.py test` runs mypy",
    "psycopg": "the driver Patroni connects with: `yiyang drill failover` runs the patroni command",
}


def _declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return [re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower() for spec in specs]


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for folder in ("services", "web", "loadtests", "tests", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_used():
    by_distribution: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            by_distribution.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    imported = _imported_top_levels()
    unused = [
        name
        for name in _declared()
        if name not in USED_OTHERWISE
        and not (by_distribution.get(name.replace("_", "-"), set()) & imported)
    ]
    assert unused == [], f"declared in pyproject.toml but never used: {unused}"
