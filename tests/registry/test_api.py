"""The marketplace's JSON API, served by starlette over a real registry.

Hostile inputs (REFERENCES.md): 24 (HTML/JS in a description is JSON data with
``<``, ``>`` and ``&`` escaped); FTS5 syntax, oversized and malformed parameters and
bodies are a 400 (or 413) naming the parameter, never a 500.
"""

from __future__ import annotations

import base64
import json
import warnings
from typing import TYPE_CHECKING

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 behind its TestClient; httpx (installed) still works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from pluginctl.registry.api import marketplace_routes
from pluginctl.registry.marketplace import set_featured

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pluginctl.registry.store import RegistryStore
    from pluginctl.signing.keys import SigningKey
    from tests.registry.publishing import Publisher

SECRETS = {"pypi-secret-a": "token-a", "pypi-secret-b": "token-b"}
HOSTILE = '<script>alert("x")</script> & [red]boom[/red]'


def check_secret(secret: str, project: str) -> str | None:
    """The token check the server passes: here two known secrets."""
    return SECRETS.get(secret)


@pytest.fixture
def shelf(publisher: Publisher) -> RegistryStore:
    publisher.publish(
        "oauth-login",
        summary="Log in with OAuth",
        category="auth",
        tags=("oauth",),
        permissions=("kv",),
        description=HOSTILE,
    )
    publisher.publish("mailer", summary="Send mail", category="notifications", tags=("email",))
    publisher.publish("mailer", "2.0", host="==0.1.*", summary="Send mail", tags=("email",))
    return publisher.store


@pytest.fixture
def client(shelf: RegistryStore) -> Iterator[TestClient]:
    app = Starlette(routes=marketplace_routes(shelf, check_token=check_secret))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# ---------------------------------------------------------------- reading


def test_search_answers_a_page_of_hits(client: TestClient) -> None:
    answer = client.get("/api/search", params={"q": "oauth", "category": "auth"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    page = answer.json()
    assert (page["total"], page["limit"], page["offset"]) == (1, 20, 0)
    (hit,) = page["hits"]
    assert (hit["project"], hit["version"], hit["tags"]) == ("oauth-login", "1.0", ["oauth"])
    assert hit["rating"] == {"average": None, "count": 0}


def test_search_filters_by_tag_host_and_sorts(client: TestClient, shelf: RegistryStore) -> None:
    assert [h["project"] for h in client.get("/api/search?tag=email").json()["hits"]] == ["mailer"]
    hidden = client.get("/api/search", params={"host": "0.2.0"}).json()
    assert [h["project"] for h in hidden["hits"]] == ["oauth-login"]
    for _ in range(2):
        shelf.index.count_download("mailer-2.0-py3-none-any.whl")
    by_downloads = client.get("/api/search?sort=downloads").json()["hits"]
    assert [h["project"] for h in by_downloads] == ["mailer", "oauth-login"]
    assert client.get("/api/search?sort=recent&limit=1").json()["hits"][0]["project"] == "mailer"


def test_a_description_with_html_is_escaped_json_data(client: TestClient) -> None:
    answer = client.get("/api/projects/oauth-login")
    assert answer.json()["description"] == HOSTILE
    assert b"<script>" not in answer.content
    assert b"\\u003cscript\\u003e" in answer.content
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_project_page_has_every_release_and_unknown_ones_are_404(client: TestClient) -> None:
    page = client.get("/api/projects/Mailer").json()
    assert page["latest"] == "2.0"
    assert [release["version"] for release in page["versions"]] == ["2.0", "1.0"]
    assert page["versions"][0]["files"][0]["filename"] == "mailer-2.0-py3-none-any.whl"
    missing = client.get("/api/projects/nobody")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no project named 'nobody' in this registry"}


def test_featured_popular_and_recent(client: TestClient, shelf: RegistryStore) -> None:
    assert client.get("/api/featured").json() == {"projects": []}
    set_featured(shelf.index, "oauth-login")
    assert [p["project"] for p in client.get("/api/featured").json()["projects"]] == ["oauth-login"]
    shelf.index.count_download("oauth_login-1.0-py3-none-any.whl")
    assert client.get("/api/popular?limit=1").json()["projects"][0]["project"] == "oauth-login"
    recent = client.get("/api/recent", params={"host": "0.2.0"}).json()["projects"]
    assert [p["project"] for p in recent] == ["oauth-login"]


def test_keys_lists_the_public_keys(client: TestClient, market_key: SigningKey) -> None:
    (listed,) = client.get("/api/keys").json()["keys"]
    assert (listed["id"], listed["name"], listed["projects"]) == (market_key.key_id, "Ada", ["*"])
    assert "private" not in json.dumps(listed)


# ---------------------------------------------------------------- hostile parameters


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"offset": "99999999999999999999"}, "offset"),
        ({"sort": "stars"}, "sort"),
        ({"category": "nonsense"}, "category"),
        ({"tag": "<b>"}, "tag"),
        ({"host": "latest"}, "host"),
        ({"host": "1" * 100}, "host"),
        ({"q": "a" * 10240}, "q"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter_and_rule(
    client: TestClient, query: dict[str, str], parameter: str
) -> None:
    answer = client.get("/api/search", params=query)
    assert answer.status_code == 400
    body = answer.json()
    assert body["parameter"] == parameter
    assert body["error"].startswith(f"{parameter}: ")
    assert body["rule"]


@pytest.mark.parametrize(
    "q", ['"', "*", "NEAR(", "OR", "a OR b", "mail\x00", "col:x", "((", "\u2028", "%00"]
)
def test_fts5_syntax_in_q_is_neutralised(client: TestClient, q: str) -> None:
    answer = client.get("/api/search", params={"q": q})
    assert answer.status_code == 200
    assert answer.json()["total"] >= 0


@pytest.mark.parametrize("name", ["a" * 300, "..", "-x", "a%00b", "<script>"])
def test_bad_project_names_are_400_or_404_never_500(client: TestClient, name: str) -> None:
    assert client.get(f"/api/projects/{name}").status_code in {400, 404}


# ---------------------------------------------------------------- ratings


def test_ratings_are_one_per_token(client: TestClient) -> None:
    first = client.post(
        "/api/projects/mailer/rating", json={"stars": 5}, headers=bearer("pypi-secret-a")
    )
    assert first.status_code == 200
    assert first.json() == {
        "project": "mailer",
        "stars": 5,
        "rating": {"average": 5.0, "count": 1},
    }
    basic = base64.b64encode(b"__token__:pypi-secret-b").decode()
    client.post(
        "/api/projects/mailer/rating",
        json={"stars": 2},
        headers={"Authorization": f"Basic {basic}"},
    )
    again = client.post(
        "/api/projects/mailer/rating", json={"stars": 4}, headers=bearer("pypi-secret-a")
    )
    assert again.json()["rating"] == {"average": 3.0, "count": 2}
    assert client.get("/api/projects/mailer").json()["rating"] == {"average": 3.0, "count": 2}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"ada:pypi-secret-a").decode()},
        {"Authorization": "Token pypi-secret-a"},
    ],
)
def test_rating_without_a_valid_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    answer = client.post("/api/projects/mailer/rating", json={"stars": 5}, headers=headers)
    assert answer.status_code == 401
    assert "www-authenticate" in answer.headers
    assert client.get("/api/projects/mailer").json()["rating"]["count"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"stars": 0}',
        b'{"stars": 6}',
        b'{"stars": true}',
        b'{"stars": "5"}',
        b"{}",
        b"[",
        b'{"stars": 2.5}',
        b"[" * 1000,
    ],
)
def test_bad_ratings_are_400(client: TestClient, body: bytes) -> None:
    answer = client.post(
        "/api/projects/mailer/rating", content=body, headers=bearer("pypi-secret-a")
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["parameter"] in {"stars", "body"}


def test_rating_an_unknown_project_is_404_and_a_huge_body_413(client: TestClient) -> None:
    missing = client.post(
        "/api/projects/nobody/rating", json={"stars": 3}, headers=bearer("pypi-secret-a")
    )
    assert missing.status_code == 404
    huge = client.post(
        "/api/projects/mailer/rating",
        content=b'{"stars": 3, "pad": "' + b"x" * 5000 + b'"}',
        headers=bearer("pypi-secret-a"),
    )
    assert huge.status_code == 413


def test_a_live_upload_token_rates_once_and_a_revoked_one_cannot(shelf: RegistryStore) -> None:
    from pluginctl.registry.tokens import Tokens

    tokens = Tokens(shelf.index)
    token, secret = tokens.create("ci", projects=["other-*"])  # any live token may rate
    app = Starlette(routes=marketplace_routes(shelf))
    with TestClient(app, raise_server_exceptions=False) as plain:
        first = plain.post("/api/projects/mailer/rating", json={"stars": 2}, headers=bearer(secret))
        again = plain.post("/api/projects/mailer/rating", json={"stars": 5}, headers=bearer(secret))
        tokens.revoke(token.id)
        revoked = plain.post(
            "/api/projects/mailer/rating", json={"stars": 1}, headers=bearer(secret)
        )
    assert (first.status_code, again.status_code, revoked.status_code) == (200, 200, 401)
    assert again.json()["rating"] == {"average": 5.0, "count": 1}


def test_the_default_token_check_refuses_an_unknown_secret(shelf: RegistryStore) -> None:
    app = Starlette(routes=marketplace_routes(shelf))
    with TestClient(app, raise_server_exceptions=False) as plain:
        answer = plain.post(
            "/api/projects/mailer/rating", json={"stars": 3}, headers=bearer("not-a-token")
        )
    assert answer.status_code == 401


# ---------------------------------------------------------------- updates


def test_updates_offer_newer_compatible_releases_only(client: TestClient) -> None:
    answer = client.post(
        "/api/updates",
        json={
            "installed": {"mailer": "1.0", "oauth-login": "3.0", "ghost": "1.0"},
            "host": "0.2.0",
        },
    )
    assert answer.status_code == 200
    found = {u["name"]: u for u in answer.json()["updates"]}
    assert (found["mailer"]["latest"], found["mailer"]["available"]) == ("1.0", False)
    assert (found["oauth-login"]["downgrade"], found["oauth-login"]["available"]) == (True, False)
    assert found["ghost"]["latest"] is None
    current = client.post("/api/updates", json={"installed": {"mailer": "1.0"}, "host": "0.1.0"})
    assert current.json()["updates"][0]["latest"] == "2.0"
    assert current.json()["updates"][0]["available"] is True


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"installed": {"mailer": "one"}, "host": "0.1.0"}, "installed"),
        ({"installed": {"mailer": "1.0"}, "host": "new"}, "host"),
        ({"installed": {"<b>": "1.0"}, "host": "0.1.0"}, "installed"),
        ({"installed": ["mailer"], "host": "0.1.0"}, "installed"),
        ({"installed": {f"p{i}": "1.0" for i in range(1001)}, "host": "0.1.0"}, "installed"),
        ({"installed": {}}, "body"),
    ],
)
def test_bad_update_checks_are_400(
    client: TestClient, body: dict[str, object], parameter: str
) -> None:
    answer = client.post("/api/updates", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["parameter"] == parameter
