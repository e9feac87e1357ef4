"""The bad-manifest corpus (tests/data/manifests/index.toml) against the manifest reader.

Each bad case raises exactly one ManifestError naming the blob, the row and the column the
index expects; each harmless variant reads the rows the index says.
"""

from __future__ import annotations

import pickle

import pytest

from acr_migrate.manifest import ManifestError, read_manifest
from tests.data.manifests.corpus import Case, cases

CASES = cases()
BAD = [c for c in CASES if c.error is not None]
GOOD = [c for c in CASES if c.error is None]
BLOB = "acr-migrate/myreg/20261127T101500Z-corpus/manifest.csv"


def test_the_corpus_is_large_and_every_file_is_used() -> None:
    from tests.data.manifests.corpus import HERE

    assert len(BAD) >= 25
    assert all(c.rows is not None for c in GOOD)
    assert {c.file for c in CASES} == {p.name for p in HERE.glob("*.csv")}


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_manifest_is_one_error_naming_blob_row_and_column(case: Case) -> None:
    with pytest.raises(ManifestError) as info:
        read_manifest(case.data, case.metadata, blob=BLOB)
    error = info.value
    text = str(error)
    assert case.error is not None and case.error in text
    assert text.startswith(f"manifest {BLOB}: ")
    assert (error.row, error.column) == (case.row, case.column)
    if case.row is not None:
        assert f"row {case.row}" in text
    if case.column is not None:
        assert f"column {case.column!r}" in text
    # One error: no chained traceback behind it.
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    # Prefect stores a failed task's exception: it must come back the same.
    back = pickle.loads(pickle.dumps(error))
    assert str(back) == text and (back.row, back.column, back.blob) == (case.row, case.column, BLOB)


@pytest.mark.parametrize("case", GOOD, ids=[c.id for c in GOOD])
def test_harmless_variants_are_read(case: Case) -> None:
    rows = read_manifest(case.data, case.metadata, blob=BLOB)
    assert len(rows) == case.rows
    if rows:
        good = next(c for c in GOOD if c.file == "good.csv")
        assert rows == read_manifest(good.data, good.metadata)
