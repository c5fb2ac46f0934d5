from __future__ import annotations

import pytest

import pluginctl


def test_the_public_names_are_pinned() -> None:
    assert sorted(pluginctl.__all__) == [
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


def test_every_public_name_resolves() -> None:
    for name in pluginctl.__all__:
        assert getattr(pluginctl, name) is not None
    assert sorted(dir(pluginctl)) == sorted(pluginctl.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Nope"):
        pluginctl.Nope  # noqa: B018  # the point of the test


def test_user_errors_and_runtime_faults_are_separate() -> None:
    assert issubclass(pluginctl.ManifestError, pluginctl.UserError)
    assert issubclass(pluginctl.ScaffoldError, pluginctl.UserError)
    assert issubclass(pluginctl.UserError, pluginctl.PluginctlError)
    assert issubclass(pluginctl.RuntimeFault, pluginctl.PluginctlError)
    assert not issubclass(pluginctl.RuntimeFault, pluginctl.UserError)
