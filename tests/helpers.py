"""Small helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acr_migrate.models import RegistryEndpoint
from acr_migrate.settings import ExportOptions, MigrationConfig
from sandbox.oci_push import (
    COSIGN_SIG_ARTIFACT,
    COSIGN_SIMPLESIGNING,
    SPDX_JSON,
    Endpoint,
    Image,
    build_artifact,
    build_cosign_signature,
    build_image,
    cosign_tag,
    make_layer,
    push_image,
    push_referrer,
)

REPO = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``acr-migrate <args>`` in a child process (wide console, output captured), against this
    session's Prefect server unless ``env`` says otherwise."""
    if env is None:
        from prefect.settings import PREFECT_API_URL

        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    env = {"COLUMNS": "2000", **env}
    return subprocess.run(
        [sys.executable, "-m", "acr_migrate.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def uid() -> str:
    """A short unique suffix, so tests sharing one sandbox never collide."""
    return uuid.uuid4().hex[:8]


def push_endpoint(endpoint: RegistryEndpoint) -> Endpoint:
    """The sandbox pusher's view of a product endpoint (password read from the env)."""
    password = endpoint.password()
    assert password is not None
    return Endpoint(
        url=endpoint.url,
        username=endpoint.username,
        password=password.get_secret_value(),
        ca_bundle=Path(endpoint.ca_bundle or ""),
    )


def push_small_image(cfg: MigrationConfig, repository: str, tags: list[str], seed: str) -> str:
    """A one-layer image whose content depends on ``seed``, pushed to the source as
    ``repository`` with ``tags``; its digest."""
    image = build_image([make_layer({"f": seed.encode() * 64})])
    push_image(push_endpoint(cfg.source), repository, tags, image)
    return image.digest


def run_export(cfg: MigrationConfig, **options: Any) -> Any:
    """Run the source-export flow; it must complete. Returns its summary."""
    from flows.source_export import source_export

    state = source_export(cfg.source, cfg.storage, ExportOptions(**options), return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def run_import(
    cfg: MigrationConfig,
    manifest: Any = None,
    target: RegistryEndpoint | None = None,
    flow_args: dict[str, Any] | None = None,
    source: RegistryEndpoint | None = None,
    **options: Any,
) -> tuple[Any, Any]:
    """Run the target-import flow with ``options`` over the config's (and further flow
    parameters ``flow_args``, e.g. ``approval``, ``runner``); returns (state, summary)."""
    from acr_migrate.summaries import ImportSummary
    from flows.target_import import target_import

    state = target_import(
        source or cfg.source,
        target or cfg.target,
        cfg.storage,
        manifest,
        cfg.migration.model_copy(update=options),
        return_state=True,
        **(flow_args or {}),
    )
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, ImportSummary), (state.message, summary)
    return state, summary


def task_runs_of(flow_run_id: Any) -> list[tuple[Any, list[str]]]:
    """Every task run of a flow run with the names of the states it went through."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> list[tuple[Any, list[str]]]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            return [
                (run, [s.name or s.type.value for s in await client.read_task_run_states(run.id)])
                for run in runs
            ]

    return asyncio.run(read())


@dataclass(frozen=True)
class ReferrerGraph:
    """An image with what refers to it: an SBOM, a signature and a provenance attestation
    (OCI 1.1, ``subject``), a signature of the SBOM, and a cosign signature under
    ``sha256-<hex>.sig``."""

    image: Image
    sbom: Image
    signature: Image
    attestation: Image
    sbom_signature: Image
    cosign: Image

    @property
    def cosign_tag(self) -> str:
        return cosign_tag(self.image.digest)

    def referrers(self) -> dict[str, str]:
        """referrer digest -> the digest it refers to."""
        return {
            self.sbom.digest: self.image.digest,
            self.signature.digest: self.image.digest,
            self.attestation.digest: self.image.digest,
            self.sbom_signature.digest: self.sbom.digest,
            self.cosign.digest: self.image.digest,
        }


IN_TOTO = "application/vnd.in-toto+json"


def referrer_graph(seed: str) -> ReferrerGraph:
    """A :class:`ReferrerGraph` whose digests depend on ``seed`` (each test its own)."""
    image = build_image([make_layer({"app": f"{seed} app".encode() * 200})])
    created = {"org.opencontainers.image.created": "2026-12-02T00:00:00Z"}
    sbom = build_artifact(
        image,
        SPDX_JSON,
        f'{{"spdxVersion": "SPDX-2.3", "name": "{seed}"}}'.encode(),
        SPDX_JSON,
        annotations=created,
    )
    signature = build_artifact(
        image, COSIGN_SIG_ARTIFACT, f"{seed} image signature".encode(), COSIGN_SIMPLESIGNING
    )
    attestation = build_artifact(
        image, IN_TOTO, f'{{"predicateType": "slsa", "seed": "{seed}"}}'.encode(), IN_TOTO
    )
    sbom_signature = build_artifact(
        sbom, COSIGN_SIG_ARTIFACT, f"{seed} sbom signature".encode(), COSIGN_SIMPLESIGNING
    )
    cosign = build_cosign_signature(image)
    return ReferrerGraph(image, sbom, signature, attestation, sbom_signature, cosign)


def push_referrer_graph(endpoint: Endpoint, repository: str, graph: ReferrerGraph) -> None:
    """The image as ``:v1``, its referrers as oras and cosign push them (the tag schema where
    the registry has no referrers API), the cosign signature under its tag."""
    push_image(endpoint, repository, ["v1"], graph.image)
    for artifact in (graph.sbom, graph.signature, graph.attestation, graph.sbom_signature):
        push_referrer(endpoint, repository, artifact)
    push_image(endpoint, repository, [graph.cosign_tag], graph.cosign)


def put_target_registry(sbx: Any) -> Any:
    """The sandbox's target ACR through ARM (an idempotent PUT, Premium). A PUT replaces the
    registry, as in Azure, so it keeps the admin user the other tests sign in with."""
    t = sbx.tenant("target")
    body = {
        "location": "westeurope",
        "sku": {"name": "Premium"},
        "properties": {"adminUserEnabled": True},
    }
    mgmt = sbx.mgmt("target")
    return mgmt.registries.begin_create(t["resource_group"], t["registry"], body).result()
