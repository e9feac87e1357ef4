"""The shape of the house: arrows point one way (faces -> flows -> tasks -> acr_migrate), the
sandbox stays outside the product, flows stay short, nothing is wired by an import side effect.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("acr_migrate", "flows", "tasks", "deployments")
#: The CLI is a face: it runs flows (by their entrypoints) and draws their progress.
FACES = {"acr_migrate/cli.py"}
#: A flow body reads like the runbook: a few task calls (docstring and signature not counted).
MAX_FLOW_BODY = 40


def _sources(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path))


def _imports(tree: ast.Module) -> set[str]:
    """Top-level package of every import, also those inside functions."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_product_never_imports_the_sandbox() -> None:
    offenders = [name for name, tree in _sources(*PRODUCT) if "sandbox" in _imports(tree)]
    assert offenders == []


@pytest.mark.parametrize("outer", ["prefect", "flows", "tasks", "deployments", "sandbox"])
def test_the_core_knows_nothing_of_what_stands_above_it(outer: str) -> None:
    offenders = [
        name
        for name, tree in _sources("acr_migrate")
        if name not in FACES and outer in _imports(tree)
    ]
    assert offenders == []


def test_tasks_never_import_flows() -> None:
    offenders = [name for name, tree in _sources("tasks") if "flows" in _imports(tree)]
    assert offenders == []


def test_nothing_is_wired_by_an_import_side_effect() -> None:
    pattern = re.compile(r"noqa: F401.*regist|import .* as _\w+\s+# noqa: F401")
    offenders = [
        f"{name}:{n}"
        for name, _ in _sources(*PRODUCT)
        for n, line in enumerate((ROOT / name).read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def _is_flow(node: ast.FunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "flow":
            return True
    return False


def _body_lines(node: ast.FunctionDef) -> int:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return (body[-1].end_lineno or 0) - body[0].lineno + 1 if body else 0


def test_flow_bodies_are_short() -> None:
    flows = [
        (name, node)
        for name, tree in _sources("flows")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and _is_flow(node)
    ]
    assert len(flows) >= 5
    long = {f"{name}:{node.name}": _body_lines(node) for name, node in flows}
    assert {k: v for k, v in long.items() if v > MAX_FLOW_BODY} == {}


def test_the_wheel_and_the_runtime_dependencies_leave_the_sandbox_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = " ".join(project["project"]["dependencies"])
    assert "trustme" not in runtime
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert "sandbox" not in packages and set(PRODUCT) <= set(packages)
    # make demo and the tests get it from a default dependency group instead
    assert any("trustme" in d for d in project["dependency-groups"]["sandbox"])
    assert "sandbox" in project["tool"]["uv"]["default-groups"]


def test_the_worker_image_has_no_sandbox() -> None:
    dockerfile = (ROOT / "deployments" / "Dockerfile").read_text()
    worker = dockerfile.split("FROM worker AS sandbox")[0]
    assert "COPY acr_migrate" in worker
    assert "sandbox" not in re.sub(r"#.*", "", worker)
    assert "--no-default-groups" in worker


def _lines(pattern: str, *packages: str) -> Iterator[tuple[str, int]]:
    regex = re.compile(pattern)
    for name, _ in _sources(*packages):
        for n, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            if regex.search(line):
                yield name, n


def test_only_the_registry_door_asks_whether_a_registry_is_an_acr() -> None:
    """Azure or OCI is decided in ``acr_migrate/registry.py`` (and inside the Azure adapters)."""
    allowed = ("acr_migrate/registry.py", "acr_migrate/azure/")
    offenders = [
        f"{name}:{n}"
        for name, n in _lines(r"\.azure\s+is\s+(not\s+)?None", *PRODUCT)
        if not name.startswith(allowed)
    ]
    assert offenders == []


def test_only_the_presets_say_how_tasks_cache_and_retry() -> None:
    offenders = [
        f"{name}:{n}"
        for name, n in _lines(r"NO_CACHE|retry_condition_fn=", "tasks", "flows")
        if name != "tasks/presets.py"
    ]
    assert offenders == []


def test_tasks_and_flows_open_registries_through_one_door() -> None:
    """Adapters are chosen by ``open_registry``; the Prefect layer calls it in one place, with
    its secrets (blocks, else env), so no task can open a registry without them."""
    offenders = [
        f"{name}:{n}"
        for name, n in _lines(
            r"open_registry\(|open_engine\(|RegistryClient\(|tenant_credential\(", "tasks", "flows"
        )
        if name != "tasks/registries.py"
    ]
    assert offenders == []


def test_flows_use_the_azure_adapters_only_through_tasks() -> None:
    offenders = [
        name
        for name, tree in _sources("flows")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith(("acr_migrate.azure", "acr_migrate.oci"))
    ]
    assert offenders == []
