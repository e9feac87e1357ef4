"""Writes the bad-manifest corpus next to this file (run once; the files are committed).

``uv run python tests/data/manifests/make_corpus.py``: every case is a small edit of
``good.csv``; what each must raise is in ``index.toml``, not here.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
D3 = "sha256:" + "c" * 64
REG = "myreg.azurecr.io"
HEADER = (
    "source_registry,repository,tag,digest,media_type,size_bytes,created_at,updated_at,platforms"
)
OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
T = "2026-11-01T12:30:05Z"
ROWS = [
    f"{REG},library/alpine,3.20,{D2},{INDEX},500,,,linux/amd64;linux/arm64/v8",
    f"{REG},team-a/api,1.0,{D1},{OCI},1234,{T},{T},",
    f"{REG},team-a/api,latest,{D1},{OCI},1234,{T},{T},",
    f"{REG},team-a/api,,{D3},{DOCKER},99,,,",
]


def csv(rows: list[str], header: str = HEADER, end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def cell(row: int, column: int, value: str) -> list[str]:
    """ROWS with one cell replaced (row is 1-based, column 0-based)."""
    rows = list(ROWS)
    cells = rows[row - 1].split(",")
    cells[column] = value
    rows[row - 1] = ",".join(cells)
    return rows


CASES: dict[str, bytes] = {
    "good.csv": csv(ROWS),
    "bom.csv": b"\xef\xbb\xbf" + csv(ROWS),
    "crlf.csv": csv(ROWS, end="\r\n"),
    "bom-crlf.csv": b"\xef\xbb\xbf" + csv(ROWS, end="\r\n"),
    "header-only.csv": csv([]),
    "empty.csv": b"",
    "blank-lines-only.csv": b"\n\n\n",
    "missing-column.csv": csv([r.rsplit(",", 1)[0] for r in ROWS], header=HEADER.rsplit(",", 1)[0]),
    "extra-column.csv": csv([r + ",x" for r in ROWS], header=HEADER + ",owner"),
    "reordered-columns.csv": csv(
        [",".join(r.split(",")[i] for i in (0, 1, 3, 2, 4, 5, 6, 7, 8)) for r in ROWS],
        header="source_registry,repository,digest,tag,media_type,size_bytes,created_at,"
        "updated_at,platforms",
    ),
    "repeated-column.csv": csv(ROWS, header=HEADER.replace("platforms", "tag")),
    "no-header.csv": csv(ROWS[1:], header=ROWS[0]),
    "extra-field-in-row.csv": csv(cell(2, 8, ",oops")),
    "truncated-mid-row.csv": csv(ROWS)[: len(csv(ROWS)) - 40],
    "unclosed-quote.csv": csv(cell(3, 2, '"latest')),
    "blank-line-in-middle.csv": csv([*ROWS[:2], "", *ROWS[2:]]),
    "repo-uppercase.csv": csv(cell(2, 1, "Team-A/api")),
    "repo-double-slash.csv": csv(cell(2, 1, "team-a//api")),
    "repo-trailing-separator.csv": csv(cell(2, 1, "team-a/api_")),
    "repo-too-long.csv": csv(cell(2, 1, "/".join(["abcdefghij"] * 24))),
    "repo-with-tag.csv": csv(cell(2, 1, "team-a/api:1.0")),
    "tag-leading-dot.csv": csv(cell(3, 2, ".latest")),
    "tag-too-long.csv": csv(cell(3, 2, "v" * 129)),
    "tag-with-slash.csv": csv(cell(3, 2, "release/1.0")),
    "tag-with-space.csv": csv(cell(3, 2, " latest")),
    "digest-short.csv": csv(cell(2, 3, "sha256:" + "a" * 63)),
    "digest-uppercase.csv": csv(cell(2, 3, "sha256:" + "A" * 64)),
    "digest-no-algorithm.csv": csv(cell(2, 3, "a" * 64)),
    "digest-not-hex.csv": csv(cell(2, 3, "sha256:" + "g" * 64)),
    "digest-empty.csv": csv(cell(2, 3, "")),
    "duplicate-row.csv": csv([*ROWS[:3], ROWS[1], ROWS[3]]),
    "duplicate-untagged.csv": csv([*ROWS, ROWS[3]]),
    "tag-two-digests.csv": csv([*ROWS[:3], ROWS[1].replace(D1, D3).replace(OCI, DOCKER), ROWS[3]]),
    "same-digest-two-sizes.csv": csv(cell(3, 5, "4321")),
    "injection-equals-tag.csv": csv(cell(3, 2, "=cmd|' /C calc'!A0")),
    "injection-plus-repository.csv": csv(cell(2, 1, "+cmd|' /C calc'!A0")),
    "injection-minus-registry.csv": csv(cell(1, 0, "-2+3+cmd|' /C calc'!A0")),
    "injection-at-platforms.csv": csv(cell(1, 8, "@SUM(1+1)*cmd|' /C calc'!A0")),
    "injection-quoted-hyperlink.csv": csv(
        cell(2, 4, '"=HYPERLINK(""http://evil.example/x"",""open"")"')
    ),
    "injection-tab.csv": csv(cell(3, 2, "\t=1+1")),
    "not-utf8-latin1-tag.csv": csv(cell(3, 2, "caf\xe9")).replace(b"caf\xc3\xa9", b"caf\xe9"),
    "utf16.csv": "\ufeff".encode("utf-16-le") + csv(ROWS).decode().encode("utf-16-le"),
    "nul-byte.csv": csv(cell(2, 8, "linux/amd64\x00")),
    "huge-line.csv": csv(cell(3, 2, "v" * 70_000)),
    "media-type-unknown.csv": csv(cell(2, 4, "application/json")),
    "size-not-a-number.csv": csv(cell(2, 5, "12kB")),
    "timestamp-local-time.csv": csv(cell(2, 6, "2026-11-01T12:30:05+02:00")),
    "timestamp-impossible.csv": csv(cell(2, 7, "2026-02-30T12:00:00Z")),
    "platform-bad.csv": csv(cell(1, 8, "linux/amd64;windows")),
    "source-registry-empty.csv": csv(cell(4, 0, "")),
    "newline-in-cell.csv": csv(cell(3, 2, '"lat\nest"')),
}


def main() -> None:
    for name, data in CASES.items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
