"""Replay the recorded real Azure exchanges (tests/contract/recorded) against the stand-in.

Fake hosts, subscriptions, resource groups and names of the recordings are mapped to the
sandbox's; then status, the headers that matter (Location, Retry-After, Link,
WWW-Authenticate) and the body shape (same keys, same value types) are compared. Ids, times
and opaque values may differ.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sandbox.azure.clients import Sandbox
from tests.helpers import uid

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[1] / "contract" / "recorded"
ARM_SCOPE = "https://management.azure.com/.default"
ACR_SCOPE = "https://containerregistry.azure.net/.default"
API_2019_12 = "2019-12-01-preview"
# Keys of the 2019-05-01 recordings that the 2025-11-01 shape no longer has.
GONE_IN_2025 = {"virtualNetworkRules"}


def recorded(name: str) -> dict[str, Any]:
    return dict(json.loads((RECORDED / name).read_text()))


def same_shape(got: Any, want: Any, path: str = "$", allow_extra: bool = False) -> None:
    """Same keys (recursively) and the same JSON types; lists compared element-wise by the
    first recorded element."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {type(got).__name__} is not an object"
        missing = set(want) - set(got) - GONE_IN_2025
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        if not allow_extra:
            extra = set(got) - set(want)
            assert not extra, f"{path}: unexpected keys {sorted(extra)}"
        for key in set(want) & set(got):
            same_shape(got[key], want[key], f"{path}.{key}", allow_extra)
    elif isinstance(want, list):
        assert isinstance(got, list), f"{path}: not a list"
        if want and got:
            for item in got:
                same_shape(item, want[0], f"{path}[]", allow_extra)
    elif want is None:
        return
    else:
        kind = (
            (int, float)
            if isinstance(want, (int, float)) and not isinstance(want, bool)
            else (type(want))
        )
        assert isinstance(got, kind), f"{path}: {got!r} is not {type(want).__name__}"


@pytest.fixture(scope="module")
def sbx(sandbox_config: Path) -> Sandbox:
    return Sandbox(sandbox_config.parent)


@pytest.fixture(scope="module")
def http(sbx: Sandbox) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=sbx.ca), timeout=30)


def _path_query(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# ---------------------------------------------------------------------------- data plane


def _acr_token(http: httpx.Client, sbx: Sandbox, scope: str) -> str:
    s = sbx.tenant("source")
    base = s["data_plane_url"]
    aad = sbx.credential("source").get_token(ACR_SCOPE).token
    ex = http.post(
        f"{base}/oauth2/exchange?api-version=2021-07-01",
        data={"grant_type": "access_token", "service": s["login_server"], "access_token": aad},
    )
    assert ex.status_code == 200
    same_shape(ex.json(), {"refresh_token": "x"})
    tok = http.post(
        f"{base}/oauth2/token?api-version=2021-07-01",
        data={
            "service": s["login_server"],
            "scope": scope,
            "refresh_token": ex.json()["refresh_token"],
            "grant_type": "refresh_token",
        },
    )
    assert tok.status_code == 200
    same_shape(tok.json(), {"access_token": "x"})
    return str(tok.json()["access_token"])


def test_catalog_paged(http: httpx.Client, sbx: Sandbox, seed_summary: Any) -> None:
    rec = recorded("acr_dataplane_catalog_paged.json")["entries"]
    s = sbx.tenant("source")
    base = s["data_plane_url"]
    first = rec[0]
    resp = http.get(base + _path_query(first["request"]["uri"]))
    assert resp.status_code == first["response"]["status"] == 401
    want_challenge = first["response"]["headers"]["WWW-Authenticate"]
    expected = (
        f'Bearer realm="{base}/oauth2/token",service="{s["login_server"]}",'
        'scope="registry:catalog:*"'
    )
    assert (
        want_challenge.replace("https://fake_url.azurecr.io", base).replace(
            "yallacrtests.azurecr.io", s["login_server"]
        )
        == expected
    )
    assert resp.headers["WWW-Authenticate"] == expected
    same_shape(resp.json(), json.loads(first["response"]["body_text"]))
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"

    token = _acr_token(http, sbx, "registry:catalog:*")
    auth = {"Authorization": f"Bearer {token}"}
    page1 = http.get(base + _path_query(rec[3]["request"]["uri"]), headers=auth)
    assert page1.status_code == 200
    same_shape(page1.json(), json.loads(rec[3]["response"]["body_text"]))
    assert len(page1.json()["repositories"]) == 2
    link = page1.headers["Link"]
    pattern = r'^</acr/v1/_catalog\?last=[^&>]+&n=2&orderby=>; rel="next"$'
    assert re.match(pattern, rec[3]["response"]["headers"]["Link"])
    assert re.match(pattern, link), link
    last = page1.json()["repositories"][-1].replace("/", "%2F")
    assert f"last={last}&" in link
    nxt = link[1 : link.index(">")]
    page2 = http.get(base + nxt, headers=auth)
    assert page2.status_code == 200
    same_shape(page2.json(), json.loads(rec[4]["response"]["body_text"]))
    assert page2.json()["repositories"][0] > page1.json()["repositories"][-1]


def test_manifests_page(http: httpx.Client, sbx: Sandbox, seed_summary: Any) -> None:
    rec = recorded("acr_dataplane_manifests_page.json")
    s = sbx.tenant("source")
    base = s["data_plane_url"]
    unauth = http.get(f"{base}/acr/v1/library%2Fbusybox/_manifests?n=2&orderby=")
    assert unauth.status_code == 401
    assert unauth.headers["WWW-Authenticate"] == rec["challenge_401_www_authenticate"].replace(
        "https://fake_url.azurecr.io", base
    ).replace("yallacrtests.azurecr.io", s["login_server"])
    token = _acr_token(http, sbx, "repository:library/busybox:metadata_read")
    resp = http.get(
        f"{base}/acr/v1/library%2Fbusybox/_manifests?n=2&orderby=",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == rec["response"]["status"]
    body, want = resp.json(), rec["response"]["body"]
    assert set(body) == set(want) and body["imageName"] == "library/busybox"
    assert body["registry"] == s["login_server"]
    single = next(m for m in want["manifests"] if "architecture" in m)
    for m in body["manifests"]:
        # Same keys as the recorded single-platform entry, minus quarantine data (no scanner).
        expect = {k: v for k, v in single.items() if k != "tags"}
        expect["changeableAttributes"] = {
            k: v
            for k, v in single["changeableAttributes"].items()
            if not k.startswith("quarantine")
        }
        got = {k: v for k, v in m.items() if k != "tags"}
        same_shape(got, expect)
    pattern = (
        r"^</acr/v1/library%2Fbusybox/_manifests\?last=sha256%3A[0-9a-f]{64}&n=2"
        r'&orderby=>; rel="next"$'
    )
    assert re.match(pattern, rec["response"]["headers"]["Link"])
    assert re.match(pattern, resp.headers["Link"]), resp.headers["Link"]


def test_manifests_page_index_entry(http: httpx.Client, sbx: Sandbox, seed_summary: Any) -> None:
    """A manifest list is listed as recorded: no architecture, no os, no references."""
    want = recorded("acr_dataplane_manifests_page.json")["response"]["body"]["manifests"]
    recorded_list = next(m for m in want if "architecture" not in m)
    assert "references" not in recorded_list
    base = sbx.tenant("source")["data_plane_url"]
    token = _acr_token(http, sbx, "repository:platform/legacy:metadata_read")
    resp = http.get(
        f"{base}/acr/v1/platform%2Flegacy/_manifests",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200
    digest = seed_summary.digest_of("platform/legacy", "stable")
    entry = next(m for m in resp.json()["manifests"] if m["digest"] == digest)
    expect = dict(recorded_list)
    expect["changeableAttributes"] = {
        k: v
        for k, v in recorded_list["changeableAttributes"].items()
        if not k.startswith("quarantine")
    }
    same_shape(entry, expect)
    assert entry["mediaType"] == recorded_list["mediaType"]


def test_multiarch_listing_as_recorded_by_the_js_sdk(
    http: httpx.Client, sbx: Sandbox, seed_summary: Any
) -> None:
    """hello-world as real ACR lists it: the index without platform or references, each
    platform manifest as an untagged entry of its own; the 401 names what was asked for."""
    rec = recorded("acr_dataplane_manifests_multiarch_js.json")
    base = sbx.tenant("source")["data_plane_url"]
    url = f"{base}/acr/v1/platform%2Fmultiarch/_manifests"
    unauth = http.get(url)
    want_401 = rec["challenge"]["response"]
    assert unauth.status_code == want_401["status"]
    same_shape(unauth.json(), want_401["body"])
    detail = unauth.json()["errors"][0]["detail"]
    assert detail == [
        {"Type": "repository", "Name": "platform/multiarch", "Action": "metadata_read"}
    ]
    token = _acr_token(http, sbx, "repository:platform/multiarch:metadata_read")
    listed = http.get(url, headers={"Authorization": f"Bearer {token}"}).json()["manifests"]
    recorded_entries = rec["listing"]["response"]["body"]["manifests"]
    recorded_list = next(m for m in recorded_entries if "tags" in m and "architecture" not in m)
    recorded_platform = next(m for m in recorded_entries if "architecture" in m)

    def without_quarantine(entry: dict[str, Any]) -> dict[str, Any]:
        attrs = entry["changeableAttributes"]
        kept = {k: v for k, v in attrs.items() if not k.startswith("quarantine")}
        return {**entry, "changeableAttributes": kept}

    index_digest = seed_summary.digest_of("platform/multiarch", "latest")
    for entry in listed:
        assert "references" not in entry
        if entry["digest"] == index_digest:
            same_shape(entry, without_quarantine(recorded_list))
        else:
            same_shape(entry, without_quarantine(recorded_platform))
            assert "tags" not in entry  # a platform manifest is listed untagged
    assert len(listed) == 3  # the index and its two platform manifests


def test_tags(http: httpx.Client, sbx: Sandbox, seed_summary: Any) -> None:
    rec = recorded("acr_dataplane_tags.json")
    s = sbx.tenant("source")
    base = s["data_plane_url"]
    token = _acr_token(http, sbx, "repository:library/alpine:metadata_read")
    resp = http.get(
        f"{base}/acr/v1/library%2Falpine/_tags", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == rec["response"]["status"]
    same_shape(resp.json(), rec["response"]["body"])
    assert "Link" not in resp.headers  # one page, as recorded
    tags = {t["name"]: t["digest"] for t in resp.json()["tags"]}
    assert tags["latest"] == seed_summary.digest_of("library/alpine", "latest")


# ---------------------------------------------------------------------------- ARM


def _arm(sbx: Sandbox, which: str) -> dict[str, str]:
    token = sbx.credential(which).get_token(ARM_SCOPE).token
    return {"Authorization": f"Bearer {token}"}


def test_import_image_lro(http: httpx.Client, sbx: Sandbox, sandbox_config: Path) -> None:
    rec = recorded("arm_importImage_lro.json")["entries"]
    t, s = sbx.tenant("target"), sbx.tenant("source")
    arm = sbx.azure["resource_manager"]
    headers = _arm(sbx, "target")
    # The registry the product creates (PUT is idempotent here).
    reg_path = (
        f"/subscriptions/{t['subscription_id']}/resourceGroups/{t['resource_group']}"
        f"/providers/Microsoft.ContainerRegistry/registries/{t['registry']}"
    )
    put = http.put(
        f"{arm}{reg_path}?api-version=2019-05-01",
        headers=headers,
        json={
            "location": "westeurope",
            "sku": {"name": "Premium"},
            "properties": {"adminUserEnabled": True},
        },
    )
    assert put.status_code in (200, 201), put.text
    repo = f"contract/{uid()}"
    body = dict(rec[0]["request"]["body"])
    body["source"] = {
        "registryUri": s["login_server"],
        "sourceImage": "library/alpine:latest",
        "credentials": {"username": s["registry"], "password": sbx.admin_password("source")},
    }
    body["targetTags"] = [f"{repo}:tag{i}" for i in range(4)]
    resp = http.post(
        f"{arm}{reg_path}/importImage?api-version=2019-05-01", headers=headers, json=body
    )
    want = rec[0]["response"]
    assert resp.status_code == want["status"] == 202
    assert resp.text == want["body_text"] == "null"
    loc_pattern = (
        r"/subscriptions/[0-9a-f-]+/providers/Microsoft\.ContainerRegistry/locations/"
        r"[A-Z0-9]+/operationResults/registries-[0-9a-f-]{36}\?api-version=2019-05-01$"
    )
    assert re.search(loc_pattern, want["headers"]["Location"])
    assert re.search(loc_pattern, resp.headers["Location"]), resp.headers["Location"]
    assert resp.headers["Location"].startswith(arm)
    assert int(resp.headers["Retry-After"]) >= 1 and want["headers"]["Retry-After"].isdigit()

    poll = http.get(resp.headers["Location"], headers=headers)
    assert poll.status_code == rec[1]["response"]["status"] == 202
    assert poll.json()["status"] == "Accepted"
    assert set(poll.json().values()) == {"Pending", "Accepted"}
    assert re.search(loc_pattern, poll.headers["Location"])
    assert poll.headers["Retry-After"].isdigit()
    deadline = time.monotonic() + 30
    while poll.status_code == 202 and time.monotonic() < deadline:
        time.sleep(int(poll.headers["Retry-After"]))
        poll = http.get(poll.headers["Location"], headers=headers)
    assert poll.status_code == rec[2]["response"]["status"] == 200
    assert poll.json() == rec[2]["response"]["body"] == {"status": "Succeeded"}


def test_registry_lifecycle_2019_05_01(http: httpx.Client, sbx: Sandbox) -> None:
    rec = recorded("arm_registries_lifecycle_2019-05-01.json")["entries"]
    s = sbx.tenant("source")
    arm = sbx.azure["resource_manager"]
    headers = _arm(sbx, "source")
    name = f"pyacr{uid()}"
    fake_sub = "00000000-0000-0000-0000-000000000000"
    fake_rg = "test_mgmt_containerregistry_test_managed_registryfe331462"

    def real(uri: str) -> str:
        return arm + _path_query(uri).replace(fake_sub, s["subscription_id"]).replace(
            fake_rg, s["resource_group"]
        ).replace("pyacrfe331462", name)

    for entry in rec:
        req, want = entry["request"], entry["response"]
        body = req.get("body")
        if isinstance(body, dict) and body.get("name") == "pyacrfe331462":
            body = {**body, "name": name}
        resp = http.request(req["method"], real(req["uri"]), headers=headers, json=body)
        assert resp.status_code == want["status"], (req["method"], req["uri"], resp.text)
        if "body" in want:
            got = resp.json()
            if (
                "value" in want["body"]
                and req["method"] == "GET"
                and "listUsages" not in req["uri"]
            ):
                got = {"value": [r for r in got["value"] if r["name"] == name]}
            same_shape(got, want["body"], allow_extra=True)
        else:
            assert resp.text == want.get("body_text", "")
        if req["method"] == "PATCH":
            assert resp.json()["tags"] == {"key": "value"}
            assert resp.json()["properties"]["adminUserEnabled"] is True
    gone = http.get(real(rec[4]["request"]["uri"]), headers=headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ResourceNotFound"


def test_put_taken_name_409(http: httpx.Client, sbx: Sandbox) -> None:
    rec = recorded("arm_registries_put_409_AlreadyInUse.json")
    t, s = sbx.tenant("target"), sbx.tenant("source")
    arm = sbx.azure["resource_manager"]
    # The source registry's name, claimed from the other tenant: names are global.
    path = (
        f"/subscriptions/{t['subscription_id']}/resourceGroups/{t['resource_group']}/"
        f"providers/Microsoft.ContainerRegistry/registries/{s['registry']}"
        "?api-version=2019-12-01-preview"
    )
    resp = http.put(arm + path, headers=_arm(sbx, "target"), json=rec["request"]["body"])
    want = rec["response"]
    assert resp.status_code == want["status"] == 409
    same_shape(resp.json(), want["body"])
    assert resp.json()["error"]["code"] == "AlreadyInUse" and resp.json()["status"] == "Failed"
    assert resp.json()["error"]["message"] == want["body"]["error"]["message"].replace(
        "myregistry", s["registry"].lower()
    )


def test_webhooks_2019_12_01_preview(http: httpx.Client, sbx: Sandbox) -> None:
    """Replay a real webhook lifecycle: synchronous 200 creates, a write-only serviceUri read
    back only through getCallbackConfig (without customHeaders when none were set), ping,
    PATCH, empty-bodied 200 DELETEs."""
    rec = recorded("arm_webhooks_2019-12-01-preview.json")["entries"]
    t = sbx.tenant("target")
    arm = sbx.azure["resource_manager"]
    headers = _arm(sbx, "target")
    name = f"hooks{uid()}"
    fake = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rgname/"

    def real(uri: str) -> str:
        path = _path_query(uri).replace(
            fake, f"/subscriptions/{t['subscription_id']}/resourceGroups/{t['resource_group']}/"
        )
        return arm + path.replace("/registries/myRegistry", f"/registries/{name}")

    for entry in rec:
        req, want = entry["request"], entry["response"]
        resp = http.request(req["method"], real(req["uri"]), headers=headers, json=req.get("body"))
        assert resp.status_code == want["status"], (req["method"], req["uri"], resp.text)
        if "body" in want:
            same_shape(resp.json(), want["body"], allow_extra="/webhooks/" not in req["uri"])
        else:
            assert resp.text == want["body_text"]
        if req["uri"].endswith(f"getCallbackConfig?api-version={API_2019_12}"):
            assert resp.json() == want["body"]


def test_replications_2019_12_01_preview(http: httpx.Client, sbx: Sandbox) -> None:
    """Replay a real replication lifecycle: the PUT is a 201 + Azure-AsyncOperation LRO, the
    DELETE a 202 whose Location answers 200 with an empty body."""
    rec = recorded("arm_replications_2019-12-01-preview.json")["entries"]
    t = sbx.tenant("target")
    arm = sbx.azure["resource_manager"]
    headers = _arm(sbx, "target")
    name = f"reps{uid()}"
    fake = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rgname/"
    lro_url = ""

    def real(uri: str) -> str:
        path = _path_query(uri).replace(
            fake, f"/subscriptions/{t['subscription_id']}/resourceGroups/{t['resource_group']}/"
        )
        return arm + path.replace("/registries/myRegistry", f"/registries/{name}")

    for entry in rec:
        req, want = entry["request"], entry["response"]
        recorded_lro = "/operationStatuses/" in req["uri"] or "/operationResults/" in req["uri"]
        url = lro_url if recorded_lro else real(req["uri"])
        resp = http.request(req["method"], url, headers=headers, json=req.get("body"))
        assert resp.status_code == want["status"], (req["method"], req["uri"], resp.text)
        for header, value in (want.get("headers") or {}).items():
            kind = (
                "/operationStatuses/" if header == "Azure-AsyncOperation" else "/operationResults/"
            )
            assert kind in value and kind in resp.headers[header]
            assert resp.headers[header].endswith(f"?api-version={API_2019_12}")
            lro_url = resp.headers[header]
        if "body" in want:
            same_shape(resp.json(), want["body"], allow_extra=True)
        elif "body_text" in want:
            assert resp.text == want["body_text"]
    http.delete(real(rec[0]["request"]["uri"]), headers=headers)
