"""The rules a trust file's entries must follow beyond their types, each as a `Problem`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pluginctl.errors import Problem, SigningKeyError
from pluginctl.signing.keys import PublicKey, key_id_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pluginctl.signing.trust import TrustEntry

__all__ = ["file_problems"]

_KEY_ID = re.compile(r"^[0-9a-f]{64}$")
_PATTERN = re.compile(r"^[a-z0-9*?\[\]!-]+$")


def file_problems(entries: list[TrustEntry], source: str) -> Iterator[Problem]:
    """Every entry's problems, and each key listed twice."""
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"key[{index}]"
        yield from _entry_problems(entry, source, where)
        if entry.id in seen:
            yield Problem(
                source,
                f"{where}.id",
                f"lists key {entry.short_id} again (it is also key[{seen[entry.id]}])",
                hint="keep one entry per key",
            )
        seen.setdefault(entry.id, index)


def _entry_problems(entry: TrustEntry, source: str, where: str) -> Iterator[Problem]:
    if not _KEY_ID.match(entry.id):
        yield Problem(
            source,
            f"{where}.id",
            "is not a key id: 64 lowercase hex characters",
            hint="copy the id that pluginctl keys list prints",
        )
    yield from _public_key_problems(entry, source, where)
    yield from _pattern_problems(entry.projects, source, f"{where}.projects")
    if entry.not_before and entry.not_after and entry.not_before > entry.not_after:
        yield Problem(
            source,
            f"{where}.not_after",
            f"{entry.not_after} is before not_before ({entry.not_before})",
            hint="swap the dates, or drop one",
        )


def _public_key_problems(entry: TrustEntry, source: str, where: str) -> Iterator[Problem]:
    try:
        if not entry.public_key.startswith("ed25519:"):
            raise SigningKeyError("not ed25519:<base64>")
        public = PublicKey.from_text(entry.public_key)
    except SigningKeyError:
        yield Problem(
            source,
            f"{where}.public_key",
            "is not an Ed25519 public key: expected ed25519:<base64 of 32 bytes>",
            hint="copy it whole from what pluginctl keys export prints",
        )
        return
    actual = key_id_of(public.raw)
    if _KEY_ID.match(entry.id) and entry.id != actual:
        yield Problem(
            source,
            f"{where}.id",
            f"does not match public_key, whose id is {actual}",
            hint=f'set id = "{actual}", or check that public_key was copied whole',
        )


def _pattern_problems(patterns: list[str], source: str, where: str) -> Iterator[Problem]:
    if not patterns:
        yield Problem(
            source,
            where,
            "is empty: the key could sign nothing",
            hint='list the project names it may sign, e.g. ["acme-*"]',
        )
    for index, pattern in enumerate(patterns):
        normal = canonicalize_name(pattern)
        if pattern != normal:
            yield Problem(
                source,
                f"{where}[{index}]",
                f"{pattern!r} is not a normalised project name pattern",
                hint=f"write {normal!r}: lowercase, with '-' for runs of '-', '_' and '.'",
            )
        elif not _PATTERN.match(pattern):
            yield Problem(
                source,
                f"{where}[{index}]",
                f"{pattern!r} is not a project name pattern",
                hint="use letters, digits, '-' and the wildcards * ? [...]",
            )
