"""The CSV manifest: round trip and every validation error, named by row and column."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from acr_migrate.manifest import (
    COLUMNS,
    COLUMNS_WITHOUT_SUBJECT,
    ManifestError,
    manifest_metadata,
    read_manifest,
    write_manifest,
)
from acr_migrate.mediatypes import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from acr_migrate.models import ImageRow

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
REG = "myreg.azurecr.io"


def rows() -> list[ImageRow]:
    when = datetime(2026, 11, 1, 12, 30, 5, tzinfo=UTC)
    return [
        ImageRow(
            source_registry=REG,
            repository="team-a/api",
            tag="1.0",
            digest=D1,
            media_type=OCI_MANIFEST,
            size_bytes=1234,
            created_at=when,
            updated_at=when,
        ),
        ImageRow(
            source_registry=REG,
            repository="team-a/api",
            tag="latest",
            digest=D1,
            media_type=OCI_MANIFEST,
            size_bytes=1234,
            created_at=when,
            updated_at=when,
        ),
        ImageRow(
            source_registry=REG,
            repository="team-a/api",
            tag="",
            digest=D2,
            media_type=DOCKER_MANIFEST,
            size_bytes=99,
        ),
        ImageRow(
            source_registry=REG,
            repository="library/alpine",
            tag="3.20",
            digest=D2,
            media_type=OCI_INDEX,
            size_bytes=500,
            platforms="linux/amd64;linux/arm64/v8",
        ),
    ]


def meta(data: bytes, count: int) -> dict[str, str]:
    return manifest_metadata(
        data, REG, row_count=count, exported_at=datetime(2026, 11, 27, tzinfo=UTC), flow_run_id="r1"
    )


def test_round_trip_keeps_every_field_and_sorts() -> None:
    data = write_manifest(rows())
    assert data.splitlines()[0].decode() == ",".join(COLUMNS)
    back = read_manifest(data, meta(data, 4))
    assert sorted(back, key=lambda r: (r.repository, r.tag)) == sorted(
        rows(), key=lambda r: (r.repository, r.tag)
    )
    assert [r.repository for r in back] == [
        "library/alpine",
        "team-a/api",
        "team-a/api",
        "team-a/api",
    ]
    assert back[-1].tag == ""  # untagged rows come after the tags of their repository
    assert b"2026-11-01T12:30:05Z" in data


def test_metadata_carries_sha256_and_count() -> None:
    data = write_manifest(rows())
    m = meta(data, 4)
    assert m["sha256"] == hashlib.sha256(data).hexdigest()
    assert m["row_count"] == "4" and m["schema_version"] == "1"


def _replace_cell(data: bytes, row: int, column: str, value: str) -> bytes:
    lines = data.decode().splitlines()
    cells = lines[row].split(",")
    cells[COLUMNS.index(column)] = value
    lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("repository", "Team-A/API", "not a valid repository name"),
        ("repository", "a//b", "not a valid repository name"),
        ("tag", "-bad", "spreadsheet formula"),
        ("tag", ".bad", "not a valid tag"),
        ("tag", "x" * 129, "not a valid tag"),
        ("digest", "sha256:" + "a" * 63, "64 hex"),
        ("digest", "sha512:" + "a" * 64, "64 hex"),
        ("digest", "sha256:" + "A" * 64, "64 hex"),
        ("media_type", "application/json", "not a manifest media type"),
        ("size_bytes", "-1", "non-negative"),
        ("size_bytes", "12.5", "non-negative"),
        ("created_at", "2026-11-01 12:00", "ISO 8601"),
        ("updated_at", "2026-11-01T12:00:00+02:00", "ISO 8601"),
        ("created_at", "2026-13-01T12:00:00Z", "valid date"),
        ("platforms", "linux", "os/arch"),
        ("source_registry", "", "is empty"),
    ],
)
def test_bad_cell_names_row_and_column(column: str, value: str, needle: str) -> None:
    data = _replace_cell(write_manifest(rows()), 2, column, value)
    with pytest.raises(ManifestError) as info:
        read_manifest(data)
    assert info.value.row == 2
    assert info.value.column == column
    assert needle in str(info.value)
    assert f"row 2, column '{column}'" in str(info.value)


def test_duplicate_tag_is_an_error() -> None:
    data = write_manifest(rows())
    lines = data.decode().splitlines()
    data = ("\n".join([*lines, lines[2]]) + "\n").encode()
    with pytest.raises(
        ManifestError, match=r"row 5, column 'tag'.*listed again \(first at row 2\)"
    ):
        read_manifest(data)


def test_duplicate_untagged_digest_is_an_error() -> None:
    data = write_manifest(rows())
    lines = data.decode().splitlines()
    untagged = next(line for line in lines if f",,{D2}," in line)
    data = ("\n".join([*lines, untagged]) + "\n").encode()
    with pytest.raises(ManifestError, match=r"untagged team-a/api@sha256:b+ is listed again"):
        read_manifest(data)


def test_same_digest_with_another_size_is_an_error() -> None:
    data = _replace_cell(write_manifest(rows()), 3, "size_bytes", "1")
    with pytest.raises(ManifestError, match=r"row 3, column 'size_bytes'.*size differs from row 2"):
        read_manifest(data)


def test_header_problems() -> None:
    data = write_manifest(rows()).replace(b"platforms", b"platform", 1)
    with pytest.raises(ManifestError, match="missing platforms; unexpected platform"):
        read_manifest(data)
    swapped = write_manifest(rows()).replace(b"tag,digest", b"digest,tag", 1)
    with pytest.raises(ManifestError, match="out of order"):
        read_manifest(swapped)
    with pytest.raises(ManifestError, match="empty"):
        read_manifest(b"")


def test_wrong_field_count_names_the_row() -> None:
    data = write_manifest(rows()) + b"a,b,c,d,e,f,g,h,i,j,k\n"
    with pytest.raises(ManifestError, match=r"row 5: has 11 fields, the header has 10"):
        read_manifest(data)


def test_a_manifest_from_before_referrers_has_no_subject_column_and_still_reads() -> None:
    data = write_manifest(rows())
    lines = data.decode().splitlines()
    assert lines[0].endswith(",subject")
    old = ("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n").encode()
    assert old.splitlines()[0].decode() == ",".join(COLUMNS_WITHOUT_SUBJECT)
    back = read_manifest(old, meta(old, 4))
    assert [r.model_dump() for r in back] == [r.model_dump() for r in read_manifest(data)]
    assert all(r.subject == "" for r in back)
    with pytest.raises(ManifestError, match=r"row 5: has 10 fields, the header has 9"):
        read_manifest(old + b"a,b,c,d,e,f,g,h,i,j\n")


def test_a_referrer_row_names_its_subject() -> None:
    signature = ImageRow(
        source_registry=REG,
        repository="team-a/api",
        digest="sha256:" + "5" * 64,
        media_type=OCI_MANIFEST,
        size_bytes=300,
        subject=D1,
    )
    data = write_manifest([*rows(), signature])
    back = read_manifest(data)
    assert [r.subject for r in back if r.digest == signature.digest] == [D1]
    bad = data.replace(D1.encode() + b"\n", b"sha256:nope\n")
    with pytest.raises(ManifestError, match=r"row 4, column 'subject': 'sha256:nope' is not"):
        read_manifest(bad)
    itself = data.replace(D1.encode() + b"\n", signature.digest.encode() + b"\n")
    with pytest.raises(ManifestError, match=r"column 'subject': a manifest cannot refer to itself"):
        read_manifest(itself)


def test_metadata_checks() -> None:
    data = write_manifest(rows())
    good = meta(data, 4)
    with pytest.raises(ManifestError, match="sha256 of the CSV is"):
        read_manifest(data + b"\n", good)
    with pytest.raises(ManifestError, match="row_count says 5"):
        read_manifest(data, {**good, "row_count": "5"})
    with pytest.raises(ManifestError, match="schema_version '2' is not supported"):
        read_manifest(data, {**good, "schema_version": "2"})
    with pytest.raises(ManifestError, match="missing flow_run_id"):
        read_manifest(data, {k: v for k, v in good.items() if k != "flow_run_id"})
    with pytest.raises(ManifestError, match=r"row 1, column 'source_registry'.*differs"):
        read_manifest(data, {**good, "source_registry": "other.azurecr.io"})
    # Azure returns metadata keys in any case.
    assert len(read_manifest(data, {k.upper(): v for k, v in good.items()})) == 4


def test_not_utf8() -> None:
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(b"\xff\xfe" + write_manifest(rows()))
