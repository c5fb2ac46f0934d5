"""pluginctl: write, run, test and ship Python plugins.

The public authoring API::

    from pluginctl import Plugin

    plugin = Plugin()


    @plugin.route("GET", "/hello/{name}")
    async def hello(request, api):
        return {"hello": request.path_params["name"]}
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from pluginctl._version import __version__

if TYPE_CHECKING:
    from pluginctl.errors import (
        CallTimeout,
        CircuitOpen,
        DatabaseError,
        ManifestError,
        MigrationError,
        PermissionDenied,
        PluginctlError,
        PluginDefinitionError,
        Problem,
        ProjectError,
        RateLimited,
        RemoteError,
        RuntimeFault,
        ScaffoldError,
        StatementRefused,
        UserError,
        WorkerCrashed,
    )
    from pluginctl.http import Request, Response
    from pluginctl.manifest import Manifest
    from pluginctl.plugin import Plugin, Registration, Registrations
    from pluginctl.runtime.database_api import ExecuteResult

__all__ = [
    "CallTimeout",
    "CircuitOpen",
    "DatabaseError",
    "ExecuteResult",
    "Manifest",
    "ManifestError",
    "MigrationError",
    "PermissionDenied",
    "Plugin",
    "PluginDefinitionError",
    "PluginctlError",
    "Problem",
    "ProjectError",
    "RateLimited",
    "Registration",
    "Registrations",
    "RemoteError",
    "Request",
    "Response",
    "RuntimeFault",
    "ScaffoldError",
    "StatementRefused",
    "UserError",
    "WorkerCrashed",
    "__version__",
]

# Public names are imported on first use, so the CLI starts without loading them.
_HOMES = {
    "ExecuteResult": "pluginctl.runtime.database_api",
    "Manifest": "pluginctl.manifest",
    "Plugin": "pluginctl.plugin",
    "Registration": "pluginctl.plugin",
    "Registrations": "pluginctl.plugin",
    "Request": "pluginctl.http",
    "Response": "pluginctl.http",
}


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'pluginctl' has no attribute {name!r}")
    value = getattr(import_module(_HOMES.get(name, "pluginctl.errors")), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
