"""Compare what a plugin's code registers with what its ``plugin.toml`` declares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluginctl.errors import Problem
from pluginctl.permissions import Permission, topic_matches

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pluginctl.manifest import Manifest
    from pluginctl.plugin import Plugin

__all__ = ["check_registrations"]


def check_registrations(plugin: Plugin, manifest: Manifest) -> list[Problem]:
    """Every registration ``manifest`` does not allow and every declaration with no handler."""
    return [
        *_route_problems(plugin, manifest),
        *_event_problems(plugin, manifest),
        *_export_problems(plugin, manifest),
        *_panel_problems(plugin, manifest),
    ]


def _route_problems(plugin: Plugin, manifest: Manifest) -> Iterator[Problem]:
    for route in plugin.routes:
        if manifest.routes is None or "routes" not in manifest.permissions:
            yield Problem(
                route.where,
                "@plugin.route",
                f"route {route.method} {route.path} is registered"
                " but plugin.toml does not allow routes",
                hint='add "routes" to permissions and a [routes] table to plugin.toml',
            )


def _event_problems(plugin: Plugin, manifest: Manifest) -> Iterator[Problem]:
    granted = [
        Permission.parse(text).target or ""
        for text in manifest.permissions
        if text.startswith("events:subscribe:")
    ]
    for handler in plugin.events:
        if not any(topic_matches(pattern, handler.key) for pattern in granted):
            yield Problem(
                handler.where,
                "@plugin.on",
                f"subscribes to {handler.key!r} without permission",
                hint=f'add "events:subscribe:{handler.key}" to permissions in plugin.toml',
            )


def _export_problems(plugin: Plugin, manifest: Manifest) -> Iterator[Problem]:
    registered = plugin.exports
    for name, export in registered.items():
        if name not in manifest.exports:
            yield Problem(
                export.where,
                "@plugin.export",
                f"export {name!r} is not declared in plugin.toml",
                hint=f'add "{name}" to exports in plugin.toml',
            )
    for index, name in enumerate(manifest.exports):
        if name not in registered:
            yield Problem(
                str(plugin.manifest_path),
                f"exports[{index}]",
                f"declares export {name!r} but no function is registered for it",
                hint=f'decorate a function with @plugin.export("{name}") or remove it',
            )


def _panel_problems(plugin: Plugin, manifest: Manifest) -> Iterator[Problem]:
    declared = [panel.id for panel in manifest.admin.panels] if manifest.admin else []
    registered = plugin.panels
    for panel_id, panel in registered.items():
        if panel_id not in declared:
            yield Problem(
                panel.where,
                "@plugin.admin_panel",
                f"admin panel {panel_id!r} is not declared in plugin.toml",
                hint=f'add {{ id = "{panel_id}", title = "..." }} to [admin] panels in plugin.toml',
            )
    for index, panel_id in enumerate(declared):
        if panel_id not in registered:
            yield Problem(
                str(plugin.manifest_path),
                f"admin.panels[{index}]",
                f"declares panel {panel_id!r} but no function renders it",
                hint=f'decorate a function with @plugin.admin_panel("{panel_id}") or remove it',
            )
