"""Tests of the plugin without a host: its manifest, its registrations, its handlers.

Run them with ``pluginctl test`` (or ``pytest``) after ``pip install -e '.[test]'``;
``test_in_host.py`` runs the plugin itself.
"""

from __future__ import annotations

{% if cookiecutter.db %}
import ast
{% endif %}
from importlib.metadata import entry_points, version

from {{ cookiecutter.__package }}.plugin import (
    greet,
    greeting,
{% if cookiecutter.admin %}
    overview,
{% endif %}
    plugin,
)

NAME = "{{ cookiecutter.name }}"


def test_manifest_is_valid_and_matches_the_distribution() -> None:
    manifest = plugin.load_manifest()
    assert manifest.name == NAME
    assert manifest.version == version(NAME)


def test_code_registers_exactly_what_the_manifest_declares() -> None:
    assert plugin.check(plugin.load_manifest()) == []


def test_registrations() -> None:
    manifest = plugin.load_manifest()
    registered = plugin.registrations()
{% if cookiecutter.db %}
    assert registered.exports == manifest.exports == ["greet", "greeted"]
{% else %}
    assert registered.exports == manifest.exports == ["greet"]
{% endif %}
    assert registered.hooks == ["on_activate"]
{% if cookiecutter.routes %}
    assert registered.routes == [("GET", "/hello/{name}")]
    assert manifest.routes is not None
    assert "routes" in manifest.permissions
{% else %}
    assert registered.routes == []
{% endif %}
{% if cookiecutter.admin %}
    assert manifest.admin is not None
    assert registered.panels == [panel.id for panel in manifest.admin.panels]
    assert "admin" in manifest.permissions
{% else %}
    assert registered.panels == []
{% endif %}


def test_entry_point_loads_this_plugin() -> None:
    (entry_point,) = entry_points(group="pluginctl.plugins", name=NAME)
    assert entry_point.load() is plugin


def test_greet_uses_the_default_salutation() -> None:
    salutation = plugin.load_manifest().config["salutation"].default
    assert greet("Ada") == f"{salutation}, Ada!"
    assert greeting("Ada", salutation="Hi") == "Hi, Ada!"
{% if cookiecutter.admin %}


def test_overview_panel_renders_html() -> None:
    html = overview(None, None)
    assert html.startswith("<h2>")
    assert greeting("admin") in html
{% endif %}
{% if cookiecutter.static %}


def test_static_files_ship_with_the_package() -> None:
    manifest = plugin.load_manifest()
    assert manifest.static is not None
    assert "static" in manifest.permissions
    static = plugin.manifest_path.parent / manifest.static
    assert (static / "index.html").is_file()
    assert (static / "style.css").is_file()
{% endif %}
{% if cookiecutter.db %}


def test_initial_migration_is_an_alembic_revision() -> None:
    manifest = plugin.load_manifest()
    assert manifest.migrations is not None
    assert {"db:read", "db:write"} <= set(manifest.permissions)
    script = plugin.manifest_path.parent / manifest.migrations / "0001_initial.py"
    tree = ast.parse(script.read_text(encoding="utf-8"))
    values = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert values["revision"] == "0001"
    assert values["down_revision"] is None
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert functions == {"upgrade", "downgrade"}
{% endif %}
