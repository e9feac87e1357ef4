"""Referrers: the tag names of the referrers tag schema and of cosign, the referrers list a
registry answers (pages, ``artifactType`` filter, 404 = no API), discovery through the API or
the tag schema recursively, and which image each referrer row of a manifest travels with."""

from __future__ import annotations

import json

import httpx
import pytest

from acr_migrate.mediatypes import OCI_INDEX, OCI_MANIFEST
from acr_migrate.models import ImageRow, RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.references import sha256_digest
from acr_migrate.referrers import (
    attach,
    cosign_subject,
    cosign_tags,
    descriptor_of,
    discover,
    is_referrers_tag,
    referrer_rows,
    referrers_index,
    referrers_tag,
    subject_of,
)

IMAGE = "sha256:" + "a" * 64
SBOM = "sha256:" + "b" * 64
SIG = "sha256:" + "c" * 64
SBOM_SIG = "sha256:" + "d" * 64
COSIGN = "sha256:" + "e" * 64
SPDX = "application/spdx+json"
COSIGN_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"


def descriptor(digest: str, artifact_type: str, media_type: str = OCI_MANIFEST) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": 300, "artifactType": artifact_type}


# ------------------------------------------------------------------------------ tag names


def test_the_referrers_tag_follows_the_spec_examples() -> None:
    """distribution-spec v1.1, "Referrers Tag Schema": its three examples."""
    assert referrers_tag("sha256:" + "a" * 64) == "sha256-" + "a" * 64
    assert referrers_tag("sha512:" + "a" * 128) == "sha512-" + "a" * 64
    odd = (
        "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall"
        "+truncation:alsoSomeInTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharacters"
        "ToExcerciseEncodedTruncation"
    ).replace("alsoSomeInThe", "alsoSome=InThe")
    assert referrers_tag(odd) == (
        "test-algorithm-using-algorithm-s-"
        "alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot"
    )
    assert is_referrers_tag(referrers_tag(IMAGE))
    assert not is_referrers_tag("v1") and not is_referrers_tag(referrers_tag(IMAGE) + ".sig")


def test_cosign_tags_name_their_subject() -> None:
    assert cosign_tags(IMAGE) == [f"sha256-{'a' * 64}.{s}" for s in ("sig", "att", "sbom")]
    assert [cosign_subject(t) for t in cosign_tags(IMAGE)] == [IMAGE] * 3
    assert cosign_subject("sha256-" + "a" * 64) is None
    assert cosign_subject("sha256-abc.sig") is None and cosign_subject("v1.sig") is None


# ---------------------------------------------------------------------------- descriptors


def test_a_referrers_descriptor_carries_artifact_type_and_annotations() -> None:
    """ "Pushing Manifests with Subject": artifactType from the manifest, else the config's
    media type; every annotation copied."""
    with_type = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SPDX,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json"},
            "subject": {"digest": IMAGE},
            "annotations": {"org.opencontainers.image.created": "2026-12-02T00:00:00Z"},
        }
    ).encode()
    assert descriptor_of(with_type, OCI_MANIFEST) == {
        "mediaType": OCI_MANIFEST,
        "digest": sha256_digest(with_type),
        "size": len(with_type),
        "artifactType": SPDX,
        "annotations": {"org.opencontainers.image.created": "2026-12-02T00:00:00Z"},
    }
    assert subject_of(with_type) == IMAGE
    untyped = json.dumps({"config": {"mediaType": "application/x.sig"}}).encode()
    assert descriptor_of(untyped, OCI_MANIFEST)["artifactType"] == "application/x.sig"
    assert "artifactType" not in descriptor_of(b'{"manifests": []}', OCI_INDEX)
    assert subject_of(b"{}") == "" and subject_of(b"not json") == ""
    index = json.loads(referrers_index([descriptor(SBOM, SPDX)]))
    assert index["mediaType"] == OCI_INDEX and index["manifests"][0]["digest"] == SBOM


# ------------------------------------------------------------------------------ discovery


def test_discovery_walks_the_referrers_of_referrers_each_after_its_subject() -> None:
    api = {
        IMAGE: [descriptor(SBOM, SPDX), descriptor(SIG, COSIGN_SIG)],
        SBOM: [descriptor(SBOM_SIG, COSIGN_SIG)],
        SBOM_SIG: [descriptor(SBOM, SPDX), descriptor(SBOM_SIG, "itself")],  # listed before
    }
    asked: list[str] = []

    def listing(digest: str) -> list[dict]:
        asked.append(digest)
        return api.get(digest, [])

    found = discover([IMAGE], listing, lambda d: pytest.fail("has an API"))
    assert [(r.digest, r.subject) for r in found.referrers] == [
        (SBOM, IMAGE),
        (SIG, IMAGE),
        (SBOM_SIG, SBOM),
    ]
    assert found.skipped == [] and asked == [IMAGE, SBOM, SIG, SBOM_SIG]


def test_where_every_manifest_is_a_root_referrers_are_still_found_under_their_subject() -> None:
    """An ACR lists every manifest, referrers included: each is asked once."""
    api = {IMAGE: [descriptor(SBOM, SPDX)], SBOM: [descriptor(SBOM_SIG, COSIGN_SIG)]}
    found = discover([SBOM_SIG, SBOM, IMAGE], lambda d: api.get(d, []), lambda d: [])
    assert sorted((r.digest, r.subject) for r in found.referrers) == [
        (SBOM, IMAGE),
        (SBOM_SIG, SBOM),
    ]


def test_without_the_api_discovery_reads_the_tag_schema() -> None:
    schema = {IMAGE: [descriptor(SBOM, SPDX)], SBOM: [descriptor(SBOM_SIG, COSIGN_SIG)]}
    asked: list[str] = []

    def no_api(digest: str) -> None:
        asked.append(digest)
        return None

    found = discover([IMAGE], no_api, lambda d: schema.get(d, []))
    assert [r.digest for r in found.referrers] == [SBOM, SBOM_SIG]
    assert asked == [IMAGE, SBOM, SBOM_SIG]


def test_a_descriptor_that_is_no_manifest_is_skipped_and_named() -> None:
    odd = descriptor(SIG, COSIGN_SIG, media_type="application/vnd.oci.artifact.manifest.v1+json")
    found = discover([IMAGE], lambda d: [odd] if d == IMAGE else [], lambda d: [])
    assert found.referrers == []
    assert found.skipped == [("application/vnd.oci.artifact.manifest.v1+json", SIG)]


# ------------------------------------------------------------------------- rows and roots


def row(digest: str, tag: str = "", subject: str = "", media_type: str = OCI_MANIFEST) -> ImageRow:
    return ImageRow(
        source_registry="reg",
        repository="app",
        tag=tag,
        digest=digest,
        media_type=media_type,
        size_bytes=300,
        subject=subject,
    )


def test_rows_gain_referrers_lose_tag_schema_indexes_and_cosign_tags_name_their_subject() -> None:
    found = discover(
        [IMAGE, COSIGN],
        lambda d: None,
        lambda d: {IMAGE: [descriptor(SBOM, SPDX)], SBOM: [descriptor(SBOM_SIG, "x")]}.get(d, []),
    )
    rows = [
        row(IMAGE, "v1"),
        row(COSIGN, cosign_tags(IMAGE)[0]),
        row(SIG, referrers_tag(IMAGE), media_type=OCI_INDEX),  # the tag schema's list
    ]
    out = referrer_rows(rows, found, "reg", "app")
    assert [(r.tag, r.digest, r.subject) for r in out] == [
        ("v1", IMAGE, ""),
        (cosign_tags(IMAGE)[0], COSIGN, IMAGE),
        ("", SBOM, IMAGE),
        ("", SBOM_SIG, SBOM),
    ]


def test_each_referrer_row_travels_with_the_image_at_the_end_of_its_chain() -> None:
    rows = [
        row(IMAGE, "v1"),
        row(IMAGE, "latest"),
        row(SBOM_SIG, subject=SBOM),  # listed before its own subject
        row(SBOM, subject=IMAGE),
        row(COSIGN, cosign_tags(IMAGE)[0], subject=IMAGE),
        row(SIG, subject="sha256:" + "f" * 64),  # an orphan: its subject is not in the manifest
    ]
    attached = attach(rows)
    assert attached.root_of(rows[2]) == ("app", IMAGE)
    assert attached.root_of(rows[5]) is None and attached.root_of(rows[0]) is None
    assert [(r.digest, r.subject, r.tags) for r in attached.referrers[("app", IMAGE)]] == [
        (SBOM, IMAGE, ()),
        (COSIGN, IMAGE, (cosign_tags(IMAGE)[0],)),
        (SBOM_SIG, SBOM, ()),
    ]
    assert ("app", "sha256:" + "f" * 64) not in attached.referrers


# ------------------------------------------------------------------ the client's referrers


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> RegistryEndpoint:
    monkeypatch.setenv("H10_REFERRERS_PASSWORD", "pw")
    return RegistryEndpoint(
        name="reg", url="https://reg.example", username="u", password_env="H10_REFERRERS_PASSWORD"
    )


def client_of(endpoint: RegistryEndpoint, handler, seen: list[httpx.Request]) -> RegistryClient:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert len(seen) < 10, "the client does not stop asking"
        return handler(request)

    return RegistryClient(endpoint, transport=httpx.MockTransport(record))


def test_the_referrers_list_is_read_across_link_pages(endpoint: RegistryEndpoint) -> None:
    pages = {
        None: ([descriptor(SBOM, SPDX)], SBOM),
        SBOM: ([descriptor(SIG, COSIGN_SIG)], None),
    }

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v2/app/referrers/{IMAGE}"
        items, following = pages[request.url.params.get("last")]
        headers = {"Content-Type": OCI_INDEX}
        if following:
            headers["Link"] = f'</v2/app/referrers/{IMAGE}?last={following}>; rel="next"'
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": items}
        return httpx.Response(200, json=index, headers=headers)

    seen: list[httpx.Request] = []
    with client_of(endpoint, handle, seen) as client:
        assert [d["digest"] for d in client.referrers("app", IMAGE) or []] == [SBOM, SIG]
        assert client.referrers_api is True
    assert [r.url.params.get("last") for r in seen] == [None, SBOM]


def test_the_client_filters_by_artifact_type_when_the_registry_did_not(
    endpoint: RegistryEndpoint,
) -> None:
    both = [descriptor(SBOM, SPDX), descriptor(SIG, COSIGN_SIG)]

    def handle(request: httpx.Request) -> httpx.Response:
        wanted = request.url.params.get("artifactType")
        if request.url.path.startswith("/v2/filtering/"):
            items = [d for d in both if d["artifactType"] == wanted]
            headers = {"OCI-Filters-Applied": "artifactType"}
        else:
            items, headers = both, {}
        return httpx.Response(200, json={"manifests": items}, headers=headers)

    seen: list[httpx.Request] = []
    with client_of(endpoint, handle, seen) as client:
        assert [d["digest"] for d in client.referrers("filtering", IMAGE, SPDX) or []] == [SBOM]
        assert [d["digest"] for d in client.referrers("plain", IMAGE, SPDX) or []] == [SBOM]
    assert [r.url.params["artifactType"] for r in seen] == [SPDX, SPDX]


def test_a_404_means_no_referrers_api_and_is_not_asked_again(endpoint: RegistryEndpoint) -> None:
    seen: list[httpx.Request] = []
    with client_of(endpoint, lambda r: httpx.Response(404, text="404 page not found"), seen) as c:
        assert c.referrers("app", IMAGE) is None
        assert c.referrers("app", SBOM) is None
        assert c.referrers_api is False
    assert len(seen) == 1


# ---------------------------------------------------------------------------------- plan


def graph_rows() -> list[ImageRow]:
    return [
        row(IMAGE, "v1"),
        row(IMAGE, "latest"),
        row(SBOM, subject=IMAGE),
        row(SIG, subject=IMAGE),
        row(SBOM_SIG, subject=SBOM),
        row(COSIGN, cosign_tags(IMAGE)[0], subject=IMAGE),
    ]


def test_referrers_travel_with_their_image_not_as_images_of_their_own() -> None:
    from acr_migrate.models import Action
    from acr_migrate.plan import make_plan
    from acr_migrate.ports import TargetState

    plan = make_plan(graph_rows(), TargetState())
    assert plan.counts() == {"import": 1, "skip": 0, "conflict": 0, "excluded": 0}
    (item,) = plan.imports
    assert item.tags == ("v1", "latest")
    assert [(r.digest, r.subject) for r in item.referrers] == [  # each after its subject
        (SBOM, IMAGE),
        (SIG, IMAGE),
        (COSIGN, IMAGE),
        (SBOM_SIG, SBOM),
    ]
    assert item.referrers[2].tags == (cosign_tags(IMAGE)[0],)
    assert plan.referrer_counts()[Action.IMPORT] == 4


def test_a_filter_never_drops_a_referrer_whose_image_stays_and_drops_it_with_its_image() -> None:
    from acr_migrate.filters import ImageFilter
    from acr_migrate.plan import make_plan
    from acr_migrate.ports import TargetState

    only_v1 = ImageFilter.from_patterns(["*:v1"], [])
    plan = make_plan(graph_rows(), TargetState(), only_v1)
    (item,) = plan.imports
    assert item.tags == ("v1",) and len(item.referrers) == 4  # the .sig tag is not "v1"
    nothing = ImageFilter.from_patterns(["other/*"], [])
    excluded = make_plan(graph_rows(), TargetState(), nothing)
    assert excluded.counts()["import"] == 0 and excluded.counts()["excluded"] == 6
    reasons = {p.item.digest: p.reason for p in excluded.items}
    assert reasons[SBOM_SIG].startswith("referrer of an excluded image (app@aaaaaaaaaaaa)")


def test_an_image_that_is_there_without_all_its_referrers_imports_only_those() -> None:
    from acr_migrate.models import Action
    from acr_migrate.plan import make_plan
    from acr_migrate.ports import TargetState

    there = TargetState(
        tags={("app", "v1"): IMAGE, ("app", "latest"): IMAGE},
        digests={("app", IMAGE), ("app", SBOM), ("app", SIG)},
    )
    plan = make_plan(graph_rows(), there)
    assert plan.counts() == {"import": 1, "skip": 1, "conflict": 0, "excluded": 0}
    (skip,) = plan.of(Action.SKIP)
    assert skip.item.referrers == ()  # not all there: the import carries them
    (item,) = plan.imports
    assert item.tags == () and len(item.referrers) == 4
    assert plan.items[-1].reason == "its referrers are missing in the target"
    there.digests |= {("app", SBOM_SIG), ("app", COSIGN)}
    there.tags[("app", cosign_tags(IMAGE)[0])] = COSIGN
    done = make_plan(graph_rows(), there)
    assert done.counts()["import"] == 0
    assert len(done.of(Action.SKIP)[0].item.referrers) == 4


def test_an_orphan_referrer_is_imported_alone() -> None:
    from acr_migrate.plan import make_plan
    from acr_migrate.ports import TargetState

    orphan = row(SIG, cosign_tags("sha256:" + "f" * 64)[0], subject="sha256:" + "f" * 64)
    plan = make_plan([row(IMAGE, "v1"), orphan], TargetState())
    assert sorted(i.digest for i in plan.imports) == [IMAGE, SIG]


# ------------------------------------------------------------------------- results, report


def test_results_count_referrers_per_image_in_the_csv_report_and_summary() -> None:
    import csv
    import io

    from acr_migrate.models import ImportResult, ImportStatus
    from acr_migrate.plan import make_plan
    from acr_migrate.ports import TargetState
    from acr_migrate.report import RESULT_COLUMNS, import_markdown, results_csv
    from acr_migrate.storage import ManifestLocation
    from acr_migrate.summaries import ImportSummary

    plan = make_plan(graph_rows(), TargetState())
    result = ImportResult.of(plan.imports[0], ImportStatus.IMPORTED)
    assert result.referrers == 4
    assert RESULT_COLUMNS[-1] == "referrers"  # appended: earlier columns keep their place
    (line,) = list(csv.DictReader(io.StringIO(results_csv([result]).decode())))
    assert line["referrers"] == "4"
    text = import_markdown(plan, [result], None, manifest_url="c/m.csv", dry_run=False)
    assert "## Referrers (signatures, SBOMs, attestations)" in text
    assert "| `app:v1` | 4 | imported |" in text
    summary = ImportSummary.of(
        ManifestLocation(container="c", blob="s/e/manifest.csv"),
        plan,
        [result],
        None,
        results_url="",
        dry_run=False,
    )
    assert summary.referrers == 4 and summary.message().endswith("; referrers: 4")


# ---------------------------------------------------------------------------------- validation


def test_validation_names_a_missing_referrer_with_its_image() -> None:
    from acr_migrate.filters import ImageFilter
    from acr_migrate.ports import TargetState
    from acr_migrate.report import validation_csv, validation_markdown
    from acr_migrate.validate import Check, validate_rows

    target = TargetState(
        tags={
            ("app", "v1"): IMAGE,
            ("app", "latest"): IMAGE,
            ("app", cosign_tags(IMAGE)[0]): COSIGN,
        },
        digests={("app", IMAGE), ("app", SBOM), ("app", SIG), ("app", COSIGN)},
    )
    only_v1 = ImageFilter.from_patterns(["*:v1"], [])
    report = validate_rows(graph_rows(), target, only_v1)
    checks = {(r.tag, r.expected_digest): r.check for r in report.rows}
    assert checks[(cosign_tags(IMAGE)[0], COSIGN)] is Check.OK  # follows v1, not the filter
    assert checks[("latest", IMAGE)] is Check.EXCLUDED
    (missing,) = report.problems()
    assert missing.expected_digest == SBOM_SIG and missing.subject == SBOM
    assert missing.describe() == (
        f"row 5: app@{SBOM_SIG}: missing (referrer of app:v1; expected {SBOM_SIG}, found nothing)"
    )
    assert list(report.missing_referrers()) == ["app:v1"]
    text = validation_markdown(report, target="t", manifest="m", url="u")
    assert "- `app:v1`: 1 (`dddddddddddd`)" in text
    header = validation_csv(report).decode().splitlines()[0]
    assert header.endswith(",check,subject,source_digest,drift")
    assert not report.ok
    none_kept = validate_rows(graph_rows(), target, ImageFilter.from_patterns(["other/*"], []))
    assert {r.check for r in none_kept.rows} == {Check.EXCLUDED}
