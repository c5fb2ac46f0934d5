"""The marketplace over a real registry: search, lists, project pages, ratings, updates.

Every project here is a real plugin wheel, signed and published through
`RegistryStore.publish`. Hostile inputs (REFERENCES.md): 24 (HTML/JS in a
description is returned as data, unchanged).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import RegistryError
from pluginctl.registry.index import Index
from pluginctl.registry.marketplace import (
    featured,
    popular,
    project_page,
    rate,
    recent,
    search,
    set_featured,
    trusted_keys,
    updates,
)

if TYPE_CHECKING:
    from pluginctl.registry import marketplace
    from pluginctl.registry.store import RegistryStore
    from pluginctl.signing.keys import SigningKey
    from tests.registry.publishing import Publisher


def names(page: marketplace.SearchPage) -> list[str]:
    return [hit.project for hit in page.hits]


@pytest.fixture
def shelf(publisher: Publisher) -> RegistryStore:
    """Four plugins: two auth ones, a dashboard for pluginctl 0.1 only, a mailer."""
    publisher.publish(
        "oauth-login",
        summary="Log in with OAuth providers",
        category="auth",
        tags=("oauth", "login"),
        description="Sign in through GitHub, Google and friends.",
    )
    publisher.publish(
        "token-vault",
        summary="Keep API tokens",
        category="auth",
        tags=("secrets",),
        description="Stores tokens for oauth clients.",
    )
    publisher.publish(
        "dashboard",
        host="==0.1.*",
        summary="Charts of everything",
        category="analytics",
        tags=("charts", "login"),
    )
    publisher.publish("mailer", summary="Send mail", category="notifications", tags=("email",))
    return publisher.store


# ---------------------------------------------------------------- text and filters


def test_words_find_projects_by_name_summary_description_and_tag(shelf: RegistryStore) -> None:
    assert names(search(shelf.index, "charts")) == ["dashboard"]
    assert names(search(shelf.index, "mail")) == ["mailer"]
    assert set(names(search(shelf.index, "login"))) == {"oauth-login", "dashboard"}
    page = search(shelf.index, "oauth")
    assert names(page)[0] == "oauth-login"  # its name and tag outrank a word of a description
    assert set(names(page)) == {"oauth-login", "token-vault"}


def test_the_last_word_is_a_prefix_and_every_word_must_match(shelf: RegistryStore) -> None:
    assert names(search(shelf.index, "dash")) == ["dashboard"]
    assert names(search(shelf.index, "oauth vau")) == ["token-vault"]
    assert names(search(shelf.index, "oauth nothinglikeit")) == []


def test_category_and_tag_filter_with_or_without_words(shelf: RegistryStore) -> None:
    assert set(names(search(shelf.index, category="auth"))) == {"oauth-login", "token-vault"}
    assert set(names(search(shelf.index, tag="login"))) == {"oauth-login", "dashboard"}
    assert names(search(shelf.index, category="auth", tag="login")) == ["oauth-login"]
    assert names(search(shelf.index, "tokens", category="auth", tag="secrets")) == ["token-vault"]
    assert names(search(shelf.index, tag="LOGIN", category="analytics")) == ["dashboard"]


def test_hits_carry_what_the_listing_shows(shelf: RegistryStore) -> None:
    (hit,) = search(shelf.index, "dashboard").hits
    assert (hit.name, hit.version, hit.category, hit.host) == (
        "dashboard",
        "1.0",
        "analytics",
        "==0.1.*",
    )
    assert hit.tags == ("charts", "login")
    assert hit.summary == "Charts of everything"
    assert (hit.downloads, hit.rating.count, hit.rating.average, hit.featured) == (
        0,
        0,
        None,
        False,
    )
    assert hit.to_dict()["tags"] == ["charts", "login"]


def test_a_host_version_hides_projects_whose_latest_release_excludes_it(
    shelf: RegistryStore,
) -> None:
    assert "dashboard" not in names(search(shelf.index, host_version="0.2.0"))
    assert "dashboard" in names(search(shelf.index, host_version="0.1.3"))
    assert "dashboard" in names(search(shelf.index))  # no host given: every project
    assert search(shelf.index, host_version="0.2.0").total == 3


def test_a_bad_host_version_names_the_parameter(shelf: RegistryStore) -> None:
    with pytest.raises(RegistryError, match=r"^host: 'latest' is not a version"):
        search(shelf.index, host_version="latest")


# ---------------------------------------------------------------- sorting and pages


def test_sort_by_downloads_recency_and_relevance(
    shelf: RegistryStore, publisher: Publisher
) -> None:
    for _ in range(3):
        shelf.index.count_download("mailer-1.0-py3-none-any.whl")
    shelf.index.count_download("token_vault-1.0-py3-none-any.whl")
    assert names(search(shelf.index, sort="downloads"))[:2] == ["mailer", "token-vault"]
    assert search(shelf.index, "mailer").hits[0].downloads == 3
    publisher.publish("oauth-login", "1.1", category="auth", tags=("oauth",))
    assert names(search(shelf.index, sort="recent"))[0] == "oauth-login"
    set_featured(shelf.index, "dashboard")
    assert names(search(shelf.index))[0] == "dashboard"  # no words: featured first


def test_pages_count_every_hit_and_hold_limit_of_them(shelf: RegistryStore) -> None:
    first = search(shelf.index, limit=3)
    second = search(shelf.index, limit=3, offset=3)
    assert (first.total, second.total, len(first.hits), len(second.hits)) == (4, 4, 3, 1)
    assert set(names(first)) | set(names(second)) == {
        "oauth-login",
        "token-vault",
        "dashboard",
        "mailer",
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 0}, "limit: 0 is not from 1 to 100"),
        ({"limit": 101}, "limit: 101"),
        ({"offset": -1}, "offset: -1"),
        ({"sort": "stars"}, "sort: 'stars' is not one of relevance, downloads, recent"),
    ],
)
def test_bad_page_options_name_the_parameter_and_rule(
    shelf: RegistryStore, options: dict[str, object], message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        search(shelf.index, **options)  # type: ignore[arg-type]  # wrong on purpose


# ---------------------------------------------------------------- hostile text


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "NEAR(",
        "OR",
        "a OR b",
        "NOT x",
        "x AND",
        "name:mailer",
        "^mail",
        "mail\x00er",
        "(((",
        "'; DROP TABLE files; --",
        "🙂",
        "-mail",
        "+mail",
        "mail*",
        '"mail',
    ],
)
def test_fts5_syntax_in_a_query_is_only_words(shelf: RegistryStore, query: str) -> None:
    page = search(shelf.index, query)
    assert page.total == len(page.hits)
    assert shelf.index.files("mailer")  # nothing was dropped
    if query in {"^mail", "-mail", "+mail", "mail*", '"mail'}:
        assert names(page) == ["mailer"]


def test_a_10kb_query_is_refused_naming_the_limit(shelf: RegistryStore) -> None:
    with pytest.raises(RegistryError, match=r"^q: the search text is 10240 characters"):
        search(shelf.index, "a" * 10240)


def test_a_query_of_only_punctuation_lists_every_project(shelf: RegistryStore) -> None:
    assert search(shelf.index, '" * ( )').total == 4


def test_row24_html_and_script_in_a_description_are_returned_as_data(
    publisher: Publisher,
) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> [red]boom[/red]'
    publisher.publish("xss", summary="<b>bold</b>", description=hostile)
    page = project_page(publisher.store.index, "xss")
    assert page is not None
    assert page.description == hostile
    assert page.summary == "<b>bold</b>"
    assert names(search(publisher.store.index, "script alert")) == ["xss"]


# ---------------------------------------------------------------- yanking


def test_a_yanked_release_never_counts_as_the_latest(publisher: Publisher) -> None:
    store = publisher.store
    publisher.publish("clock", "1.0", summary="Old clock", tags=("time",))
    publisher.publish("clock", "2.0", host="==0.1.*", summary="New clock", tags=("alarm",))
    assert search(store.index, "clock").hits[0].version == "2.0"
    store.yank("clock", "2.0", reason="broken alarms")
    (hit,) = search(store.index, "clock").hits
    assert (hit.version, hit.host, hit.summary, hit.tags) == ("1.0", "", "Old clock", ("time",))
    assert names(search(store.index, tag="alarm")) == []
    assert names(search(store.index, host_version="0.2.0")) == ["clock"]
    store.yank("clock", "1.0")
    assert search(store.index, "clock").total == 0
    page = project_page(store.index, "clock")
    assert page is not None
    assert page.latest is None
    store.yank("clock", "2.0", yanked=False)
    assert search(store.index, "clock").hits[0].version == "2.0"


def test_an_older_release_published_late_does_not_replace_the_newest(
    publisher: Publisher,
) -> None:
    publisher.publish("clock", "2.0", summary="New clock")
    publisher.publish("clock", "1.5", summary="Backport")
    assert search(publisher.store.index, "clock").hits[0].version == "2.0"


def test_an_index_from_before_listings_is_listed_when_opened(shelf: RegistryStore) -> None:
    with sqlite3.connect(shelf.index.path) as db:
        db.execute("DROP TABLE listings")
        db.execute("DELETE FROM search")
    db.close()
    assert search(Index(shelf.index.path), "oauth").total == 2


# ---------------------------------------------------------------- lists


def test_featured_popular_and_recent_lists(shelf: RegistryStore, publisher: Publisher) -> None:
    assert featured(shelf.index) == []
    set_featured(shelf.index, "Token_Vault")
    set_featured(shelf.index, "mailer")
    set_featured(shelf.index, "mailer", on=False)
    assert [hit.project for hit in featured(shelf.index)] == ["token-vault"]
    shelf.index.count_download("dashboard-1.0-py3-none-any.whl")
    assert popular(shelf.index, limit=1)[0].project == "dashboard"
    assert popular(shelf.index, host_version="0.2.0")[0].project != "dashboard"
    publisher.publish("latest-thing")
    assert recent(shelf.index)[0].project == "latest-thing"


def test_featuring_an_unknown_project_says_so(shelf: RegistryStore) -> None:
    with pytest.raises(RegistryError, match="nobody is not in this registry"):
        set_featured(shelf.index, "nobody")


# ---------------------------------------------------------------- project pages


def test_a_project_page_lists_every_release_with_its_files_and_facts(
    publisher: Publisher, market_key: SigningKey
) -> None:
    store = publisher.store
    old = publisher.publish("clock", "1.0", permissions=("kv",), description="Tells time")
    new = publisher.publish(
        "clock", "2.0", permissions=("kv", "http:fetch:time.example.com"), category="utilities"
    )
    store.index.count_download(new.filename)
    store.index.count_download(new.filename)
    store.index.count_download(old.filename)
    store.yank("clock", "1.0", reason="wrong time zone")
    page = project_page(store.index, "Clock")
    assert page is not None
    assert (page.project, page.latest, page.category, page.downloads) == (
        "clock",
        "2.0",
        "utilities",
        3,
    )
    assert page.permissions == ("kv", "http:fetch:time.example.com")
    assert [release.version for release in page.versions] == ["2.0", "1.0"]
    newest, oldest = page.versions
    assert newest.signers == oldest.signers == (market_key.key_id,)
    assert (oldest.permissions, oldest.description, oldest.downloads) == (("kv",), "Tells time", 1)
    assert (oldest.yanked, oldest.yank_reason) == (True, "wrong time zone")
    (file,) = newest.files
    assert (file.filename, file.sha256, file.size, file.downloads) == (
        new.filename,
        new.sha256,
        new.size,
        2,
    )
    assert file.signed
    assert file.uploaded > 0
    assert page.to_dict()["versions"][0]["files"][0]["sha256"] == new.sha256  # type: ignore[index]  # JSON-shaped


def test_an_unknown_project_has_no_page(shelf: RegistryStore) -> None:
    assert project_page(shelf.index, "nobody") is None


# ---------------------------------------------------------------- ratings


def test_ratings_are_one_per_token_and_a_new_one_replaces_the_old(shelf: RegistryStore) -> None:
    first = rate(shelf.index, "mailer", "token-a", 5)
    assert first is not None
    assert (first.average, first.count) == (5.0, 1)
    rate(shelf.index, "mailer", "token-b", 2)
    again = rate(shelf.index, "Mailer", "token-a", 3)
    assert again is not None
    assert (again.average, again.count) == (2.5, 2)
    assert search(shelf.index, "mailer").hits[0].rating == again
    page = project_page(shelf.index, "mailer")
    assert page is not None
    assert page.rating == again


@pytest.mark.parametrize("stars", [0, 6, -1, True, 2.5, "4"])
def test_stars_are_a_whole_number_from_1_to_5(shelf: RegistryStore, stars: object) -> None:
    with pytest.raises(RegistryError, match=r"^stars: "):
        rate(shelf.index, "mailer", "token-a", stars)  # type: ignore[arg-type]  # wrong on purpose
    assert search(shelf.index, "mailer").hits[0].rating.count == 0


def test_rating_an_unknown_project_rates_nothing(shelf: RegistryStore) -> None:
    assert rate(shelf.index, "nobody", "token-a", 4) is None


# ---------------------------------------------------------------- updates


def test_updates_offer_the_newest_compatible_release_that_is_not_yanked(
    publisher: Publisher,
) -> None:
    for version, host in (("1.0", ""), ("1.1", ""), ("1.2", ""), ("2.0", "==0.1.*")):
        publisher.publish("clock", version, host=host)
    publisher.store.yank("clock", "1.2", reason="bad")
    (found,) = updates(publisher.store.index, {"Clock": "1.0"}, host_version="0.2.0")
    assert (found.name, found.installed, found.latest, found.available) == (
        "clock",
        "1.0",
        "1.1",
        True,
    )
    assert not found.downgrade
    (older_host,) = updates(publisher.store.index, {"clock": "1.0"}, host_version="0.1.0")
    assert older_host.latest == "2.0"


def test_a_downgrade_is_never_offered(publisher: Publisher) -> None:
    publisher.publish("clock", "1.0")
    publisher.publish("clock", "1.2")
    publisher.store.yank("clock", "1.2", reason="eats batteries")
    ahead, current = updates(
        publisher.store.index, {"clock": "1.2", "missing": "1.0"}, host_version="0.1.0"
    )
    assert (ahead.latest, ahead.available, ahead.downgrade) == ("1.0", False, True)
    assert (ahead.yanked, ahead.yank_reason) == (True, "eats batteries")
    assert (current.name, current.latest, current.available) == ("missing", None, False)
    (same,) = updates(publisher.store.index, {"clock": "1.0"}, host_version="0.1.0")
    assert (same.available, same.downgrade) == (False, False)


def test_update_checks_refuse_versions_that_are_not_pep_440(shelf: RegistryStore) -> None:
    with pytest.raises(RegistryError, match=r"^installed: mailer's version 'one'"):
        updates(shelf.index, {"mailer": "one"}, host_version="0.1.0")
    with pytest.raises(RegistryError, match=r"^host: "):
        updates(shelf.index, {"mailer": "1.0"}, host_version="new")


# ---------------------------------------------------------------- keys


def test_trusted_keys_list_public_keys_and_what_they_may_sign(
    registry: RegistryStore, market_key: SigningKey
) -> None:
    (listed,) = trusted_keys(registry)
    assert (listed.id, listed.name, listed.projects, listed.status) == (
        market_key.key_id,
        "Ada",
        ("*",),
        "active",
    )
    assert listed.public_key.startswith("ed25519:")
    assert set(listed.to_dict()) == {
        "id",
        "name",
        "public_key",
        "projects",
        "status",
        "not_before",
        "not_after",
    }
