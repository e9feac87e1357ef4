"""Which images to migrate: include/exclude patterns on ``repository[:tag]``.

A pattern is a glob (``team-a/*``, ``*:latest``) or, between slashes, a regular expression
(``/^team-(a|b)/.*$/``). A pattern with no ``:`` matches the repository alone; with a ``:`` it
matches ``repository:tag``. An image is kept when it matches some include (or there are none)
and no exclude.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field


class FilterError(ValueError):
    """A pattern cannot be compiled; the message names it."""


@dataclass(frozen=True)
class Pattern:
    """One compiled include/exclude pattern."""

    text: str
    regex: re.Pattern[str]
    with_tag: bool
    is_regex: bool = False

    @classmethod
    def parse(cls, text: str) -> Pattern:
        text = text.strip()
        if not text:
            raise FilterError("empty filter pattern")
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            body = text[1:-1]
            try:
                regex = re.compile(body)
            except re.error as exc:
                raise FilterError(
                    f"filter {text!r} is not a valid regular expression: {exc}"
                ) from None
            return cls(text, regex, ":" in body, is_regex=True)
        return cls(text, re.compile(fnmatch.translate(text)), ":" in text)

    def matches(self, repository: str, tag: str) -> bool:
        subject = f"{repository}:{tag}" if self.with_tag else repository
        if self.is_regex:
            return bool(self.regex.search(subject))
        return bool(self.regex.match(subject))  # a glob matches the whole subject


@dataclass(frozen=True)
class ImageFilter:
    """Include and exclude patterns; :meth:`reason` says why an image is left out."""

    include: tuple[Pattern, ...] = field(default_factory=tuple)
    exclude: tuple[Pattern, ...] = field(default_factory=tuple)

    @classmethod
    def from_patterns(cls, include: list[str] | None, exclude: list[str] | None) -> ImageFilter:
        return cls(
            tuple(Pattern.parse(p) for p in include or []),
            tuple(Pattern.parse(p) for p in exclude or []),
        )

    def reason(self, repository: str, tag: str) -> str | None:
        """None when the image is kept, else which rule left it out."""
        if self.include and not any(p.matches(repository, tag) for p in self.include):
            return "matches no include pattern"
        for pattern in self.exclude:
            if pattern.matches(repository, tag):
                return f"excluded by {pattern.text!r}"
        return None
