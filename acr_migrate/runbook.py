"""The runbook of a cross-tenant ACR move: its options and the report of a run through it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from acr_migrate.settings import EngineName


class RunbookMode(StrEnum):
    """How the runbook starts its steps."""

    #: Each step a run of its deployment, in its own tenant's work pool (the two identities
    #: never meet); the runbook itself needs no registry identity.
    DEPLOYMENTS = "deployments"
    #: Each step a subflow of this run (one worker holding both tenants' identities).
    SUBFLOWS = "subflows"


class RunbookOptions(BaseModel):
    """What the runbook does (shown as a form in the Prefect UI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: RunbookMode = Field(default=RunbookMode.DEPLOYMENTS)
    include: list[str] = Field(default_factory=list, description="Only these repositories")
    exclude: list[str] = Field(default_factory=list, description="Leave these repositories out")
    engine: EngineName = Field(default=EngineName.ACR_IMPORT, description="How images are copied")
    freeze: bool = Field(default=True, description="Freeze the source first (ACR only; asks)")
    provision: bool = Field(default=True, description="Create the target from the source (ACR)")
    pull_token: bool = Field(
        default=False,
        description="Import with a temporary pull token of the source (grant-pull-token before "
        "the import, revoke-pull-token at the end) instead of a long-lived source credential",
    )
    principal_mapping_blob: str | None = Field(
        default=None,
        description="Reconnect role assignments with this mapping CSV in the container "
        "(e.g. <source>/principal-mapping.csv); skipped when unset",
    )
    aks_clusters: list[str] = Field(
        default_factory=list,
        description="AKS clusters (resource ids) whose kubelet identity gets AcrPull on the target",
    )
    delete_source: bool = Field(
        default=False, description="End by deleting the source (its own approval form asks)"
    )
    migration_principals: list[str] = Field(
        default_factory=list,
        description="Object ids of the migration's identities: their access is revoked last",
    )
    approval_timeout_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)


class StepReport(BaseModel):
    """One step of a runbook run."""

    step: str
    flow_run: str = ""
    state: str
    message: str = ""


def runbook_markdown(source: str, target: str, steps: list[StepReport]) -> str:
    """The runbook run, step by step."""
    lines = [
        f"# Runbook: `{source}` -> `{target}`",
        "",
        "| step | state | message | flow run |",
        "|---|---|---|---|",
    ]
    for s in steps:
        message = s.message.replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {s.step} | {s.state} | {message} | {s.flow_run} |")
    return "\n".join(lines) + "\n"
