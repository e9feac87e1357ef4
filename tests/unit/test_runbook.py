"""The runbook's plan: which steps the options ask for, and that each names a deployment that
prefect.yaml declares for that very flow."""

from __future__ import annotations

from pathlib import Path

import yaml

from acr_migrate.models import RegistryEndpoint
from acr_migrate.runbook import RunbookOptions
from acr_migrate.storage import StorageSettings
from flows.runbook import _plan

ROOT = Path(__file__).resolve().parents[2]
SOURCE = RegistryEndpoint(name="src", url="https://src.example")
TARGET = RegistryEndpoint(name="tgt", url="https://tgt.example")
STORAGE = StorageSettings(container="c", connection_string_env="X")
OBJECT_ID = "0b4f1f5e-1111-4222-8333-444455556666"
CLUSTER = (
    "/subscriptions/s2/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"
)


def test_every_option_adds_its_step_in_runbook_order() -> None:
    least = RunbookOptions(freeze=False, provision=False)
    assert [s[0] for s in _plan(SOURCE, TARGET, STORAGE, least)] == [
        "document",
        "migrate images",
        "final test",
    ]
    most = RunbookOptions(
        pull_token=True,
        principal_mapping_blob="src/principal-mapping.csv",
        aks_clusters=[CLUSTER],
        delete_source=True,
        migration_principals=[OBJECT_ID],
    )
    assert [s[0] for s in _plan(SOURCE, TARGET, STORAGE, most)] == [
        "freeze",
        "document",
        "create",
        "temporary pull credential",
        "migrate images",
        "reconnect roles",
        "reconnect applications",
        "final test",
        "delete the source",
        "revoke (pull token)",
        "revoke (source)",
        "revoke (target)",
    ]


def test_each_step_names_a_deployment_of_its_own_flow() -> None:
    declared = {
        f"{d['entrypoint'].rsplit(':', 1)[1]}|{d['name']}"
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }
    most = RunbookOptions(
        pull_token=True,
        principal_mapping_blob="m.csv",
        aks_clusters=[CLUSTER],
        delete_source=True,
        migration_principals=[OBJECT_ID],
    )
    for step, deployment, fn, params in _plan(SOURCE, TARGET, STORAGE, most):
        flow_name, name = deployment.split("/")
        assert flow_name == fn.name, step
        assert f"{fn.fn.__name__}|{name}" in declared, step
        assert params(None)  # every step gets its parameters


def test_with_a_pull_token_the_import_reads_the_source_with_the_token_alone() -> None:
    steps = {s[0]: s for s in _plan(SOURCE, TARGET, STORAGE, RunbookOptions(pull_token=True))}
    imported = steps["migrate images"][3](None)["source"]
    assert imported.pull_token_block == "acr-migrate-pull-src"
    plain = _plan(SOURCE, TARGET, STORAGE, RunbookOptions())
    assert next(s for s in plain if s[0] == "migrate images")[3](None)["source"] == SOURCE
