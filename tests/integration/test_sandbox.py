"""The sandbox itself, end to end over real processes (registries, token server, Azurite)."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sandbox import api
from sandbox._process import pid_alive, require_binary
from sandbox.fault_proxy import FaultProxy
from sandbox.oci_push import Endpoint, RegistryClient, build_image, make_layer, push_image
from sandbox.seed import SeedSummary, catalogue

FaultProxyFactory = Callable[..., FaultProxy]

pytestmark = pytest.mark.integration


def _host(url: str) -> str:
    return url.removeprefix("https://")


def _skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    exe = require_binary("skopeo", "skopeo")
    done = subprocess.run([exe, *args], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done


def _inspect_raw(state: dict[str, Any], url: str, ref: str) -> bytes:
    done = _skopeo(
        "inspect",
        "--raw",
        "--authfile",
        state["auth_file"],
        "--cert-dir",
        state["cert_dir"],
        f"docker://{_host(url)}/{ref}",
    )
    return done.stdout


def _ctx(state: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=state["ca_bundle"])


def test_config_and_env_file(sandbox_config: Path, sandbox_state: dict[str, Any]) -> None:
    config = tomllib.loads(sandbox_config.read_text())
    # The product talks to the ACR data planes of the Azure stand-in, not the raw registries.
    tenants = sandbox_state["azure"]["tenants"]
    assert config["source"]["url"] == tenants["source"]["data_plane_url"]
    assert config["target"]["url"] == tenants["target"]["data_plane_url"]
    assert tenants["source"]["backing_registry_url"] == sandbox_state["source"]["url"]
    assert (sandbox_config.parent / config["source"]["ca_bundle"]).is_file()
    env_path = sandbox_config.parent / config["env_file"]
    assert env_path.stat().st_mode & 0o777 == 0o600
    env = api.read_env_file(env_path)
    for key in (
        config["source"]["password_env"],
        config["target"]["password_env"],
        config["storage"]["connection_string_env"],
        "SANDBOX_ROOT",
    ):
        assert env.get(key), key
    assert env["ACR_MIGRATE_SOURCE_PASSWORD"] not in sandbox_config.read_text()
    state_text = (sandbox_config.parent / api.STATE_NAME).read_text()
    assert env["ACR_MIGRATE_TARGET_PASSWORD"] not in state_text
    assert Path(sandbox_state["cert_dir"], "ca.crt").is_file()


def _served_catalog(client: RegistryClient, page_size: int = 5) -> list[str]:
    """Every repository ``/v2/_catalog`` lists, following its ``Link`` pages."""
    repositories: list[str] = []
    url: str | httpx.URL = f"/v2/_catalog?n={page_size}"
    while True:
        page = client.request("GET", url)
        assert page.status_code == 200, page.text
        repositories += page.json()["repositories"]
        following = page.links.get("next", {}).get("url")
        if not following:
            return repositories
        url = page.request.url.join(following)


def test_seed_summary_matches_catalogue(
    sandbox_config: Path, sandbox_state: dict[str, Any], seed_summary: SeedSummary
) -> None:
    """``seed.json`` says what the source registry serves: read back over HTTP from the
    registry that stores the bytes (the backing one, not the Azure stand-in that seeded it)."""
    assert len(seed_summary.tagged) >= 30
    kinds = {i.note for i in seed_summary.images}
    assert {"oci-index", "docker-list", "big-layer", "untagged"} <= kinds
    assert any(len(i.tags) >= 3 for i in seed_summary.images)
    source, _ = api.raw_endpoints(sandbox_config.parent)
    assert source.url == sandbox_state["source"]["url"]
    with RegistryClient(source) as client:
        served = _served_catalog(client)
        # Other tests add repositories of their own; the seeded ones are all there.
        assert set(seed_summary.repositories) <= set(served), served
        assert len(served) == len(set(served))  # the pages did not overlap
        for repository in seed_summary.repositories:
            seeded_tags = {
                t for i in seed_summary.images if i.repository == repository for t in i.tags
            }
            assert set(client.tags(repository)) == seeded_tags, repository
        for image in seed_summary.images:
            for reference in image.tags or [image.digest]:
                raw, media_type, digest = client.get_manifest(image.repository, reference)
                assert (digest, media_type) == (image.digest, image.media_type), reference
            body = json.loads(raw)
            if image.note in ("oci-index", "docker-list"):
                platforms = [
                    "/".join(filter(None, (p["os"], p["architecture"], p.get("variant"))))
                    for p in (m["platform"] for m in body["manifests"])
                ]
                assert platforms == image.platforms, image.repository
    # The seed is deterministic: the same catalogue gives the same digests on every run.
    expected = {(s.repository, tuple(s.tags)): s.image.digest for s in catalogue()}
    assert {(i.repository, tuple(i.tags)): i.digest for i in seed_summary.images} == expected


def test_skopeo_inspect_source_basic_auth(
    sandbox_state: dict[str, Any], seed_summary: SeedSummary
) -> None:
    for repo, tag in (("library/alpine", "latest"), ("platform/legacy", "stable")):
        raw = _inspect_raw(sandbox_state, sandbox_state["source"]["url"], f"{repo}:{tag}")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        assert digest == seed_summary.digest_of(repo, tag)


def test_skopeo_copy_to_target_token_auth(
    sandbox_state: dict[str, Any], seed_summary: SeedSummary
) -> None:
    src, dst = sandbox_state["source"]["url"], sandbox_state["target"]["url"]
    for ref in ("platform/multiarch:latest", "team-a/api/worker:latest"):
        _skopeo(
            "copy",
            "--all",
            "--preserve-digests",
            "--authfile",
            sandbox_state["auth_file"],
            "--src-cert-dir",
            sandbox_state["cert_dir"],
            "--dest-cert-dir",
            sandbox_state["cert_dir"],
            f"docker://{_host(src)}/{ref}",
            f"docker://{_host(dst)}/{ref}",
        )
        raw = _inspect_raw(sandbox_state, dst, ref)
        repo, tag = ref.split(":")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == seed_summary.digest_of(repo, tag)


def test_token_server(sandbox_config: Path, sandbox_state: dict[str, Any]) -> None:
    realm = sandbox_state["token_server"]["extra"]["realm"]
    service = sandbox_state["token_server"]["extra"]["service"]
    _, target = api.raw_endpoints(sandbox_config.parent)
    params = [("service", service), ("scope", "repository:team-a/api:pull,push")]
    params.append(("scope", "registry:catalog:*"))
    bad = httpx.get(
        realm, params=params, auth=("target-admin", "wrong"), verify=_ctx(sandbox_state)
    )
    assert bad.status_code == 401
    ok = httpx.get(
        realm,
        params=params,
        auth=(target.username or "", target.password or ""),
        verify=_ctx(sandbox_state),
    )
    assert ok.status_code == 200
    body = ok.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 300
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] in ("ES256", "RS256") and header["x5c"]
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["aud"] == service and claims["sub"] == "target-admin"
    assert sorted(claims["access"], key=lambda a: a["type"]) == [
        {"type": "registry", "name": "catalog", "actions": ["*"]},
        {"type": "repository", "name": "team-a/api", "actions": ["pull", "push"]},
    ]
    form = {
        "grant_type": "password",
        "username": target.username,
        "password": target.password,
        "service": service,
        "scope": "repository:x/y:pull",
        "client_id": "test",
    }
    posted = httpx.post(realm, data=form, verify=_ctx(sandbox_state))
    assert posted.status_code == 200 and posted.json()["access_token"]
    # The token is accepted by the target registry: catalog listing works.
    catalog = httpx.get(
        f"{sandbox_state['target']['url']}/v2/_catalog",
        headers={"Authorization": f"Bearer {body['token']}"},
        verify=_ctx(sandbox_state),
    )
    assert catalog.status_code == 200, catalog.text


def test_fault_proxy_burst_then_pass(
    fault_proxy: FaultProxyFactory, sandbox_state: dict[str, Any]
) -> None:
    proxy = fault_proxy("target", burst=2, retry_after=3, methods=["GET"])
    with httpx.Client(verify=_ctx(sandbox_state)) as client:
        first = [client.get(f"{proxy.url}/v2/") for _ in range(2)]
        assert [r.status_code for r in first] == [429, 429]
        assert all(r.headers["retry-after"] == "3" for r in first)
        after = client.get(f"{proxy.url}/v2/")
        assert after.status_code == 401  # the registry's own answer, passed through
        assert after.headers["www-authenticate"].startswith("Bearer realm=")
        assert client.head(f"{proxy.url}/v2/").status_code == 401  # HEAD not in methods
        remote = client.get(f"{proxy.url}/_sandbox/faults").json()
    counters = proxy.counters
    assert counters["faults_injected"] == 2
    assert counters["requests_seen"] == 4 and counters["passed_through"] == 2
    assert remote["counters"] == counters and remote["burst_remaining"] == 0


def test_fault_proxy_runtime_control_and_push(
    fault_proxy: FaultProxyFactory, sandbox_config: Path, sandbox_state: dict[str, Any]
) -> None:
    """Faults set over HTTP; a push through the proxy survives them (client retries)."""
    proxy = fault_proxy("target")
    with httpx.Client(verify=_ctx(sandbox_state)) as client:
        put = client.put(
            f"{proxy.url}/_sandbox/faults",
            json={"status": 503, "rate": 0.3, "seed": 7, "retry_after": 0, "path_regex": "/blobs/"},
        )
        assert put.status_code == 200, put.text
        assert client.put(f"{proxy.url}/_sandbox/faults", json={"nope": 1}).status_code == 400
        put = client.put(
            f"{proxy.url}/_sandbox/faults",
            json={"status": 503, "rate": 0.3, "seed": 7, "retry_after": 0, "path_regex": "/blobs/"},
        )
    _, target = api.raw_endpoints(sandbox_config.parent)
    big = make_layer({"data/blob.bin": os.urandom(3 * 1024 * 1024)})
    image = build_image([big, make_layer({"etc/hello": b"through the proxy\n"})])
    via_proxy = Endpoint(proxy.url, target.username, target.password, target.ca_bundle)
    digest = push_image(via_proxy, "proxied/image", ["v1"], image)
    assert digest == image.digest
    with RegistryClient(target) as direct:  # straight to the registry, not the proxy
        raw, media_type, got = direct.get_manifest("proxied/image", "v1")
    assert got == image.digest and raw == image.manifest and media_type == image.media_type
    counters = proxy.counters
    assert counters["faults_injected"] >= 1
    assert counters["requests_matched"] > counters["faults_injected"]


def test_background_proxy_in_front_of_target(sandbox_state: dict[str, Any]) -> None:
    proxy = sandbox_state["target_proxy"]
    with httpx.Client(verify=_ctx(sandbox_state)) as client:
        resp = client.put(proxy["extra"]["faults_url"], json={"burst": 1})
        assert resp.status_code == 200
        assert client.get(f"{proxy['url']}/v2/").status_code == 429
        assert client.get(f"{proxy['url']}/v2/").status_code == 401
        snap = client.delete(proxy["extra"]["faults_url"]).json()
    assert snap["counters"]["faults_injected"] == 1


def test_azurite_blob_roundtrip(sandbox_config: Path) -> None:
    from azure.storage.blob import BlobServiceClient

    config = tomllib.loads(sandbox_config.read_text())
    env = api.read_env_file(sandbox_config.parent / config["env_file"])
    conn = env[config["storage"]["connection_string_env"]]
    service = BlobServiceClient.from_connection_string(conn)
    container = service.get_container_client(config["storage"]["container"])
    if not container.exists():
        container.create_container()
    container.upload_blob("probe.json", json.dumps({"ok": True}), overwrite=True)
    assert json.loads(container.download_blob("probe.json").readall()) == {"ok": True}


def test_first_export_finds_no_previous_manifest_in_a_missing_container(
    sandbox_config: Path,
) -> None:
    """A container that does not exist yet means "never exported", not a storage failure."""
    from acr_migrate.models import ConfigError
    from acr_migrate.settings import load_config
    from acr_migrate.storage import BlobStore
    from tests.helpers import uid

    storage = load_config(sandbox_config).storage.model_copy(update={"container": f"fresh-{uid()}"})
    with pytest.raises(ConfigError, match="no manifest under"):
        BlobStore(storage).latest_manifest("sandbox-source")


def test_lifecycle_up_twice_and_down(tmp_path: Path) -> None:
    """A second `up` reuses the running sandbox; `down` stops exactly the recorded pids."""
    root = tmp_path / "lifecycle"
    config = api.up(root)
    try:
        pids = dict(api.load_state(root)["pids"])
        assert all(pid_alive(pid) for pid in pids.values())
        assert api.up(root) == config
        assert api.load_state(root)["pids"] == pids  # nothing new started
        assert api.status(root)["running"] is True
        os.kill(pids["azurite"], 15)  # one already dead: down must tolerate it
    finally:
        stopped = api.down(root)
    assert set(stopped) >= set(pids) - {"azurite"}
    assert not any(pid_alive(pid) for pid in pids.values())
    assert api.status(root)["running"] is False
    assert api.down(root) == []
