"""Include/exclude patterns: globs on repository or repository:tag, and /regex/."""

from __future__ import annotations

import pytest

from acr_migrate.filters import FilterError, ImageFilter


@pytest.mark.parametrize(
    ("include", "exclude", "repo", "tag", "kept"),
    [
        ([], [], "any/thing", "1", True),
        (["team-a/*"], [], "team-a/api", "1", True),
        (["team-a/*"], [], "team-b/api", "1", False),
        (["team-a"], [], "team-a/api", "1", False),  # a glob matches the whole name
        ([], ["*:latest"], "x", "latest", False),
        ([], ["*:latest"], "x", "latest-1", True),
        (["/^team-(a|b)//"], [], "team-b/web", "1", True),
        (["/^team-(a|b)//"], [], "team-c/web", "1", False),
        ([], ["/:v[0-9]+-rc/"], "x", "v2-rc1", False),
        ([], ["/:v[0-9]+-rc/"], "x", "v2", True),
    ],
)
def test_patterns(include: list[str], exclude: list[str], repo: str, tag: str, kept: bool) -> None:
    assert (ImageFilter.from_patterns(include, exclude).reason(repo, tag) is None) is kept


def test_bad_regex_names_the_pattern() -> None:
    with pytest.raises(
        FilterError, match=r"filter '/\(unclosed/' is not a valid regular expression"
    ):
        ImageFilter.from_patterns(["/(unclosed/"], [])
    with pytest.raises(FilterError, match="empty"):
        ImageFilter.from_patterns([" "], [])
