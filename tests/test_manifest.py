from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluginctl.errors import ManifestError
from pluginctl.manifest import Limits, Manifest

BASE = 'name = "hello"\nversion = "1.0.0"\n'


def problems_of(text: str) -> list[tuple[str, str, str | None]]:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_text(textwrap.dedent(text), source="x/plugin.toml")
    assert all(p.file == "x/plugin.toml" for p in caught.value.problems)
    return [(p.key, p.message, p.hint) for p in caught.value.problems]


def test_minimal_manifest_gets_defaults() -> None:
    manifest = Manifest.from_text(BASE)
    assert manifest.name == "hello"
    assert manifest.category == "other"
    assert manifest.limits == Limits()
    assert manifest.permissions == []
    assert manifest.routes is None


def test_full_manifest_round_trips(fixture_plugin: object) -> None:
    path = Path(__file__).parent / "fixtures/plugins/good/good_plugin/plugin.toml"
    manifest = Manifest.from_path(path)
    assert manifest.package == "good_plugin"
    assert manifest.limits.rate["calls"].burst == 100
    assert manifest.config["retries"].default == 3
    assert manifest.routes is not None
    assert manifest.routes.prefix == "/api"
    assert manifest.admin is not None
    assert [p.id for p in manifest.admin.panels] == ["stats"]
    assert manifest.dependencies == {"billing": ">=1.0,<2"}
    assert manifest.permission_set.allows("events:subscribe", "orders.created")
    assert Manifest.from_dict(manifest.to_dict()) == manifest


def test_directory_path_reads_the_plugin_toml_inside(tmp_path: Path) -> None:
    (tmp_path / "plugin.toml").write_text(BASE)
    assert Manifest.from_path(tmp_path).name == "hello"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_path(tmp_path / "plugin.toml")
    assert str(tmp_path / "plugin.toml") in str(caught.value)
    assert "file not found" in str(caught.value)
    assert caught.value.hint is not None
    assert "pluginctl create" in caught.value.hint


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "plugin.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(ManifestError, match="not UTF-8"):
        Manifest.from_path(tmp_path)


def test_bad_toml_names_line_and_column() -> None:
    [(key, message, hint)] = problems_of('name = "hello\nversion = 1\n')
    assert key == ""
    assert "not valid TOML" in message
    assert "line 1" in message
    assert hint is not None


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        (BASE + "nme = 1\n", "nme", "name"),
        (BASE + "[limits]\nmemry_mb = 3\n", "limits.memry_mb", "memory_mb"),
        (BASE + "[config.a]\ntype = 'int'\ndefualt = 1\n", "config.a.defualt", "default"),
        (
            BASE + "[admin]\npanels = [{id='a', title='A', titel='x'}]\n",
            "admin.panels[0].titel",
            "title",
        ),
        (BASE + "[limits.rate.kv]\nrate_per_s = 1\nbrust = 3\n", "limits.rate.kv.brust", "burst"),
    ],
)
def test_unknown_key_suggests_the_nearest(text: str, key: str, suggestion: str) -> None:
    found = problems_of(text)
    assert (key, "unknown key", f"did you mean '{suggestion}'?") in found


def test_unknown_key_without_a_near_name_lists_the_valid_ones() -> None:
    [(key, _, hint)] = problems_of(BASE + "zzzzzz = 1\n")
    assert key == "zzzzzz"
    assert hint is not None
    assert "valid keys here" in hint
    assert "permissions" in hint


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (BASE + "[limits]\nmemory_mb = 'lots'\n", "limits.memory_mb", "expected int, got str"),
        (BASE + "tags = 'one'\n", "tags", "expected list, got str"),
        (BASE + "tags = [1]\n", "tags[0]", "expected str, got int"),
        (BASE + "[limits]\nmemory_mb = 0\n", "limits.memory_mb", ">= 1"),
        (BASE + "routes = 'x'\n", "routes", "expected table, got str"),
        ('version = "1"\n', "name", "is required"),
        (
            BASE + "[config.level]\ntype = 'integer'\n",
            "config.level.type",
            "'integer' is not allowed",
        ),
        (BASE + "[config.level]\ndescription = 'x'\n", "config.level.type", "is required"),
        (
            BASE + "[limits.rate.kv]\nrate_per_s = 'x'\n",
            "limits.rate.kv.rate_per_s",
            "expected float",
        ),
        (
            BASE + "dependencies = { billing = 1 }\n",
            "dependencies.billing",
            "expected str, got int",
        ),
        (BASE + "[admin]\npanels = [{ id = 1 }]\n", "admin.panels[0].id", "expected str, got int"),
    ],
)
def test_wrong_type_names_the_key_path(text: str, key: str, expected: str) -> None:
    [(found_key, message, hint)] = problems_of(text)
    assert found_key == key
    assert expected in message
    assert hint


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("My Plugin!", "not a valid plugin name"),
        ("9lives", "not a valid plugin name"),
        ("double--dash", "not a valid plugin name"),
        ("class", "Python keyword"),
        ("host", "the host's own name"),
        ("x" * 65, "longer than 64"),
        ("", "must not be empty"),
    ],
)
def test_bad_names(name: str, fragment: str) -> None:
    found = problems_of(f'name = "{name}"\nversion = "1.0"\n')
    assert any(key == "name" and fragment in message and hint for key, message, hint in found)


@pytest.mark.parametrize("topic", ["host.plugin.failed", "host.**", "host"])
def test_only_the_host_publishes_host_topics(topic: str) -> None:
    found = problems_of(BASE + f'permissions = ["events:publish:{topic}"]\n')
    assert any(
        key == "permissions[0]" and "only the host publishes" in message and hint
        for key, message, hint in found
    )


def test_semantic_problems_are_all_reported_together() -> None:
    found = problems_of(
        """
        name = "hello"
        version = "one"
        category = "utilties"
        host = ">>1"
        permissions = ["kvv", "events:publish", "events:publish:Bad Topic", "kv", "kv", "admin"]
        static = "../outside"
        [dependencies]
        hello = ">=1"
        Other = "1"
        [limits.rate.kvv]
        rate_per_s = 1
        [routes]
        prefix = "no-slash"
        [config.flag]
        type = "bool"
        default = 1
        [config.level]
        type = "int"
        default = 20
        min = 50
        max = 10
        [config.mode]
        type = "str"
        required = true
        default = "a"
        choices = ["b", 3]
        """
    )

    def said(key: str, fragment: str) -> bool:
        return any(k == key and fragment in m for k, m, _ in found)

    def hinted(key: str, hint: str) -> bool:
        return any(k == key and h == hint for k, _, h in found)

    assert said("version", "PEP 440 version")
    assert hinted("category", "did you mean 'utilities'?")
    assert said("host", "version range")
    assert hinted("permissions[0]", "did you mean 'kv'?")
    assert said("permissions[1]", "needs a target")
    assert said("permissions[2]", "valid target")
    assert said("permissions[4]", "listed twice")
    assert said("static", "inside the plugin package")
    assert said("static", "the 'static' permission is not")
    assert said("dependencies.hello", "depend on itself")
    assert said("dependencies.Other", "not a valid plugin name")
    assert said("dependencies.Other", "not a PEP 440 version range")
    assert said("limits.rate.kvv", "cannot be rate limited")
    assert said("routes.prefix", "not a URL path prefix")
    assert said("routes", "the 'routes' permission is not")
    assert said("config.flag.default", "not of type bool")
    assert said("config.level", "min is greater than max")
    assert said("config.mode", "required and also has a default")
    assert said("config.mode.choices[1]", "not of type str")
    assert said("config.mode.default", "not one of the choices")


def test_declared_section_needs_its_permission() -> None:
    found = problems_of(BASE + "[admin]\npanels = []\n")
    assert found == [
        (
            "admin",
            "is declared but the 'admin' permission is not",
            'add "admin" to permissions, so operators see what the plugin does',
        )
    ]


def test_migrations_need_db_write() -> None:
    text = BASE + 'permissions = ["db:read"]\nmigrations = "migrations"\n'
    [(key, message, _)] = problems_of(text)
    assert key == "migrations"
    assert message == "is declared but the 'db:write' permission is not"


def test_many_problems_are_listed_in_the_message() -> None:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_text(BASE + "a = 1\nb = 2\n")
    assert "has 2 problems" in str(caught.value)
    assert "plugin.toml: a: unknown key" in str(caught.value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_is_a_manifest_or_a_manifest_error(text: str) -> None:
    try:
        Manifest.from_text(text)
    except ManifestError as exc:
        problems: tuple[object, ...] = exc.problems
    else:
        problems = (None,)
    assert problems


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
keys = st.sampled_from(
    ["name", "version", "limits", "config", "permissions", "routes", "admin", "tags"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=6))
def test_arbitrary_tables_never_crash(data: dict[str, object]) -> None:
    try:
        Manifest.from_dict(data)
    except ManifestError as exc:
        messages = [p.message for p in exc.problems]
    else:
        messages = ["valid"]
    assert messages
    assert all(messages)
