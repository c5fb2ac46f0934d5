"""Upload tokens: secrets shown once and stored hashed, scoped to projects, revocable."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import RegistryError
from pluginctl.registry.index import Index
from pluginctl.registry.tokens import SECRET_PREFIX, TokenRefused, Tokens

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return Tokens(Index(tmp_path / "index.sqlite3"))


def test_the_secret_is_never_stored_only_its_hash(tokens: Tokens, tmp_path: Path) -> None:
    token, secret = tokens.create("ci", projects=["demo"])
    assert secret.startswith(SECRET_PREFIX)
    assert len(secret) > 40
    for path in tmp_path.iterdir():  # the database and its write-ahead log
        assert secret.encode() not in path.read_bytes()
    assert tokens.check(secret, "demo") == token
    (listed,) = tokens.list()
    assert listed == token
    assert secret not in repr(listed)


def test_patterns_are_normalised_and_matched_against_any_spelling(tokens: Tokens) -> None:
    token, secret = tokens.create("acme", projects=["Acme_*", "tools.Extra"])
    assert token.projects == ("acme-*", "tools-extra")
    for project in ("acme-weather", "ACME.Weather", "Tools_Extra"):
        assert tokens.check(secret, project) == token
    with pytest.raises(TokenRefused, match="token 'acme' may not upload to other-thing"):
        tokens.check(secret, "Other_Thing")


def test_an_unknown_or_revoked_secret_says_only_that(tokens: Tokens) -> None:
    token, secret = tokens.create("ci", projects=["*"])
    for wrong in (None, "", "pcr_nope", secret + "x"):
        with pytest.raises(TokenRefused) as refused:
            tokens.check(wrong, "demo")
        assert refused.value.message == "invalid or revoked token"
    revoked = tokens.revoke(token.id)
    assert revoked.revoked is not None
    assert tokens.revoke(token.id).revoked == revoked.revoked  # revoking twice changes nothing
    with pytest.raises(TokenRefused, match=r"^invalid or revoked token$"):
        tokens.check(secret, "demo")
    assert tokens.list()[0].revoked is not None


@pytest.mark.parametrize(
    ("name", "projects", "reason"),
    [
        ("", ["demo"], "a token needs a name"),
        ("ci", [], "at least one project"),
        ("ci", ["demo/evil"], "'demo/evil' is not a project name pattern"),
        ("ci", ["dé"], "is not a project name pattern"),
    ],
)
def test_bad_tokens_are_refused_with_the_fix(
    tokens: Tokens, name: str, projects: list[str], reason: str
) -> None:
    with pytest.raises(RegistryError, match=reason) as refused:
        tokens.create(name, projects=projects)
    assert refused.value.hint


def test_revoking_an_unknown_id_names_it(tokens: Tokens) -> None:
    with pytest.raises(RegistryError, match="no token has the id 'nope'"):
        tokens.revoke("nope")
