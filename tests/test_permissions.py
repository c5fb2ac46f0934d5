from __future__ import annotations

import pytest

from pluginctl.permissions import Permission, PermissionSet, PermissionSyntaxError, topic_matches


@pytest.mark.parametrize(
    "text",
    [
        "kv",
        "db:read",
        "db:write",
        "routes",
        "admin",
        "static",
        "events:publish:orders.created",
        "events:subscribe:orders.*",
        "events:subscribe:orders.**",
        "events:subscribe:**",
        "plugins:call:billing",
        "http:fetch:api.example.com",
        "http:fetch:*.example.com",
        "http:fetch:localhost:8080",
    ],
)
def test_valid_permissions_round_trip(text: str) -> None:
    assert str(Permission.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("kvv", "not a known permission", "did you mean 'kv'?"),
        ("db:reed", "not a known permission", "did you mean 'db:read'?"),
        ("events:publish", "needs a target", "events:publish:<target>"),
        ("events:publish:Orders", "valid target", "topic"),
        ("events:subscribe:orders..x", "valid target", "topic"),
        ("plugins:call:Bad_Name", "valid target", "plugin name"),
        ("http:fetch:https://x.com", "valid target", "host name"),
        ("http:fetch:*", "valid target", "host name"),
        ("network", "not a known permission", "known permissions:"),
    ],
)
def test_invalid_permissions_explain_themselves(text: str, message: str, hint: str) -> None:
    with pytest.raises(PermissionSyntaxError, match=message) as caught:
        Permission.parse(text)
    assert caught.value.hint is not None
    assert hint in caught.value.hint


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("orders.created", "orders.created", True),
        ("orders.*", "orders.created", True),
        ("orders.*", "orders", False),
        ("orders.*", "orders.a.b", False),
        ("orders.**", "orders", True),
        ("orders.**", "orders.a.b", True),
        ("*.created", "users.created", True),
        ("**", "anything.at.all", True),
        ("orders.created", "orders.deleted", False),
    ],
)
def test_topic_patterns(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


def test_permission_set_checks_capability_and_target() -> None:
    perms = PermissionSet.parse(
        ["kv", "http:fetch:*.example.com", "plugins:call:billing", "events:publish:orders.*"]
    )
    assert perms.allows("kv")
    assert not perms.allows("db:read")
    assert perms.allows("http:fetch", "api.example.com")
    assert perms.allows("http:fetch", "API.Example.com")
    assert not perms.allows("http:fetch", "example.com")
    assert not perms.allows("http:fetch", "evil-example.com")
    assert perms.allows("plugins:call", "billing")
    assert not perms.allows("plugins:call", "billing2")
    assert perms.allows("events:publish", "orders.created")
    assert not perms.allows("events:subscribe", "orders.created")
    assert not perms.allows("kv", "target")


def test_db_write_includes_db_read() -> None:
    assert PermissionSet.parse(["db:write"]).allows("db:read")
    assert not PermissionSet.parse(["db:read"]).allows("db:write")
