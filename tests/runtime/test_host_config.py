from __future__ import annotations

import shutil
from pathlib import Path

import platformdirs
import pytest

from pluginctl.errors import ConfigError, Problem
from pluginctl.manifest import RateLimit
from pluginctl.runtime.breaker import BreakerPolicy
from pluginctl.runtime.discovery import discover
from pluginctl.runtime.health import HealthPolicy
from pluginctl.runtime.host_config import (
    CONFIG_FILENAME,
    Defaults,
    HostConfig,
    PluginTable,
    ServerConfig,
)
from pluginctl.runtime.output import OutputPolicy
from pluginctl.runtime.supervisor import RestartPolicy
from tests.conftest import FIXTURE_PLUGINS, FIXTURES

HOSTCONFIG = FIXTURES / "hostconfig"


def problems(path: Path) -> list[tuple[str, str, str | None]]:
    """Every problem in the config at ``path``, as (key, message, hint)."""
    with pytest.raises(ConfigError) as caught:
        HostConfig.from_path(path)
    assert all(p.file == str(path) for p in caught.value.problems)
    return [(p.key, p.message, p.hint) for p in caught.value.problems]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / CONFIG_FILENAME
    path.write_text(text, encoding="utf-8")
    return path


def test_the_defaults_without_a_file() -> None:
    config = HostConfig.default()
    assert config.data_dir == Path(platformdirs.user_data_dir("pluginctl", appauthor=False))
    assert config.path is None
    assert config.installed is True
    assert config.plugins == ()
    assert config.disabled == frozenset()
    assert config.server == ServerConfig(host="127.0.0.1", port=8700)
    assert not config.server.exposed
    assert config.defaults == Defaults(call_timeout_s=None, max_frame_mb=16, start_method="fork")
    assert config.config_for("anything") == {}


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    config = HostConfig.from_path(config_file(tmp_path, ""))
    assert config.path == tmp_path / CONFIG_FILENAME
    assert config.data_dir == HostConfig.default().data_dir
    assert config.server == HostConfig.default().server


def test_every_key_of_a_full_config(tmp_path: Path) -> None:
    site = Path(shutil.copytree(HOSTCONFIG / "site", tmp_path / "site"))
    shutil.copytree(FIXTURE_PLUGINS / "import-trap", tmp_path / "plugins" / "import-trap")
    config = HostConfig.from_path(site)  # the directory holding pluginctl.toml
    assert config.path == site / CONFIG_FILENAME
    assert config.data_dir == site / "var" / "data"
    assert config.database_url == "postgresql://app:s3cret@db.internal:5432/app"
    assert config.installed is False
    assert config.plugins == (tmp_path / "plugins" / "import-trap",)
    assert config.disabled == {"legacy"}
    assert config.server == ServerConfig(host="0.0.0.0", port=9000)  # noqa: S104  # the file's
    assert config.server.exposed
    assert config.defaults == Defaults(
        call_timeout_s=2.5,
        max_frame_mb=4,
        start_timeout_s=12.5,
        deadline_grace_s=0.5,
        start_method="spawn",
        traffic_every_s=2.5,
        restart=RestartPolicy(
            initial_backoff_s=0.2,
            max_backoff_s=10.0,
            multiplier=3.0,
            jitter=0.1,
            stable_after_s=20.0,
            max_crashes=4,
            window_s=30.0,
        ),
        breaker=BreakerPolicy(
            window_s=5.0, min_calls=10, failure_ratio=0.25, consecutive_timeouts=2, open_s=1.5
        ),
        health=HealthPolicy(interval_s=2.0, timeout_s=4.0, hook_timeout_s=1.0),
        output=OutputPolicy(lines_per_s=50.0, burst_lines=100, line_bytes=1024),
        rate={"kv": RateLimit(rate_per_s=100, burst=200), "http": RateLimit(rate_per_s=0.5)},
    )
    assert config.plugin == {
        "greeter": PluginTable(
            config={"greeting": "Hi", "retries": 5},
            restart=RestartPolicy(max_crashes=10),
            breaker=BreakerPolicy(open_s=30.0),
            health=HealthPolicy(interval_s=0.5),
        )
    }
    assert config.config_for("greeter") == {"greeting": "Hi", "retries": 5}
    assert config.config_for("other") == {}
    assert not config.is_enabled("legacy")
    assert config.is_enabled("greeter")
    assert config.to_dict() == {
        "path": str(site / CONFIG_FILENAME),
        "data_dir": str(site / "var" / "data"),
        "database": "postgresql://app:***@db.internal:5432/app",
        "installed": False,
        "plugins": [str(tmp_path / "plugins" / "import-trap")],
        "disabled": ["legacy"],
        "server": {"host": "0.0.0.0", "port": 9000, "exposed": True},  # noqa: S104  # the file's
        "defaults": {
            "call_timeout_s": 2.5,
            "max_frame_mb": 4,
            "start_timeout_s": 12.5,
            "deadline_grace_s": 0.5,
            "restart": {
                "initial_backoff_s": 0.2,
                "max_backoff_s": 10.0,
                "multiplier": 3.0,
                "jitter": 0.1,
                "stable_after_s": 20.0,
                "max_crashes": 4,
                "window_s": 30.0,
            },
            "breaker": {
                "window_s": 5.0,
                "min_calls": 10,
                "failure_ratio": 0.25,
                "consecutive_timeouts": 2,
                "open_s": 1.5,
            },
            "health": {"interval_s": 2.0, "timeout_s": 4.0, "hook_timeout_s": 1.0},
            "output": {"lines_per_s": 50.0, "burst_lines": 100, "line_bytes": 1024},
            "start_method": "spawn",
            "traffic_every_s": 2.5,
            "rate": {"kv": {"rate_per_s": 100.0, "burst": 200}, "http": {"rate_per_s": 0.5}},
        },
        "configured": ["greeter"],
    }


def test_the_source_plugins_of_a_config_are_discovered(tmp_path: Path) -> None:
    site = Path(shutil.copytree(HOSTCONFIG / "site", tmp_path / "site"))
    shutil.copytree(FIXTURE_PLUGINS / "import-trap", tmp_path / "plugins" / "import-trap")
    config = HostConfig.from_path(site / CONFIG_FILENAME)
    report = discover(sources=config.plugins, include_installed=config.installed)
    assert [p.name for p in report.plugins] == ["import-trap"]


def test_paths_are_relative_to_the_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf" / "plugin-src").mkdir(parents=True)
    path = config_file(tmp_path / "conf", 'data_dir = "data"\nplugins = ["plugin-src"]\n')
    monkeypatch.chdir(tmp_path)
    config = HostConfig.from_path(Path("conf") / CONFIG_FILENAME)
    assert config.data_dir == path.parent / "data"
    assert config.plugins == (path.parent / "plugin-src",)
    assert config.path == path


def test_a_tilde_is_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = HostConfig.from_path(config_file(tmp_path, 'data_dir = "~/pluginctl-data"\n'))
    assert config.data_dir == tmp_path / "home" / "pluginctl-data"


def test_the_same_source_directory_twice_is_kept_once(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    config = HostConfig.from_path(
        config_file(tmp_path, 'plugins = ["p", "./p", "../' + tmp_path.name + '/p"]\n')
    )
    assert config.plugins == (tmp_path / "p",)


def test_find_looks_in_the_directory_only(tmp_path: Path) -> None:
    assert HostConfig.find(tmp_path) is None
    path = config_file(tmp_path, "")
    assert HostConfig.find(tmp_path) == path
    assert HostConfig.find(path) == path  # a file: its directory
    (tmp_path / "sub").mkdir()
    assert HostConfig.find(tmp_path / "sub") is None  # never a parent's file


def test_unknown_keys_are_named_with_the_nearest_valid_one() -> None:
    path = HOSTCONFIG / "typos.toml"
    assert problems(path) == [
        ("instaled", "unknown key", "did you mean 'installed'?"),
        ("datadir", "unknown key", "did you mean 'data_dir'?"),
        ("server.prot", "unknown key", "did you mean 'port'?"),
        ("defaults.call_timeout", "unknown key", "did you mean 'call_timeout_s'?"),
        ("defaults.rate.kv.brust", "unknown key", "did you mean 'burst'?"),
        ("plugin.greeter.confg", "unknown key", "did you mean 'config'?"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[server]\nport = "8700"',
            ("server.port", "expected int, got str", "change the value to the expected type"),
        ),
        (
            'installed = "yes"',
            ("installed", "expected bool, got str", "change the value to the expected type"),
        ),
        (
            'plugins = "../greeter"',
            ("plugins", "expected list, got str", "change the value to the expected type"),
        ),
        (
            '[defaults]\nstart_method = "thread"',
            ("defaults.start_method", "'thread' is not allowed", "one of: fork, spawn"),
        ),
        (
            "[defaults]\nmax_frame_mb = 0",
            ("defaults.max_frame_mb", "expected int >= 1", "change the value to the expected type"),
        ),
        (
            "[defaults.rate.kv]\nburst = 3",
            ("defaults.rate.kv.rate_per_s", "is required", "add rate_per_s = ... here"),
        ),
        (
            "[defaults.restart]\ninitial_backoff_s = 60.0",
            (
                "defaults.restart",
                "restart backoff must satisfy 0 < initial_backoff_s <= max_backoff_s",
                "change the values so that this holds",
            ),
        ),
        (
            "[plugin.greeter.health]\ninterval_s = 0",
            (
                "plugin.greeter.health",
                "health interval_s, timeout_s and hook_timeout_s must be positive",
                "change the values so that this holds",
            ),
        ),
        (
            "[defaults.output]\nburst_lines = 0",
            (
                "defaults.output",
                "output lines_per_s, burst_lines and line_bytes must be positive",
                "change the values so that this holds",
            ),
        ),
        (
            "[plugin.greeter.restart]\nmax_crash = 3",
            ("plugin.greeter.restart.max_crash", "unknown key", "did you mean 'max_crashes'?"),
        ),
        (
            "[plugin.greeter]\nconfig = 3",
            (
                "plugin.greeter.config",
                "expected table, got int",
                "change the value to the expected type",
            ),
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_located_by_its_key(
    tmp_path: Path, text: str, expected: tuple[str, str, str]
) -> None:
    assert problems(config_file(tmp_path, text)) == [expected]


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_outside_the_tcp_range(tmp_path: Path, port: int) -> None:
    assert problems(config_file(tmp_path, f"[server]\nport = {port}")) == [
        (
            "server.port",
            f"{port} is not a TCP port",
            "use a port from 1 to 65535, or 0 to pick a free one",
        )
    ]


def test_port_zero_picks_a_free_port(tmp_path: Path) -> None:
    assert HostConfig.from_path(config_file(tmp_path, "[server]\nport = 0")).server.port == 0


def test_every_rule_beyond_types_is_checked_at_once(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    path = config_file(
        tmp_path,
        """
        data_dir = " "
        plugins = ["here", "missing", ""]
        disabled = ["Legacy", "old", "old"]
        [server]
        host = ""
        [defaults.rate.kvv]
        rate_per_s = 1
        [plugin."Bad Name".config]
        x = 1
        """,
    )
    assert problems(path) == [
        ("data_dir", "is empty", "give a directory, or remove the key"),
        (
            "plugins[1]",
            f"'missing' is not a directory ({tmp_path / 'missing'})",
            f"give a plugin project's directory, relative to {tmp_path}",
        ),
        (
            "plugins[2]",
            "'' is not a directory",
            f"give a plugin project's directory, relative to {tmp_path}",
        ),
        (
            "disabled[0]",
            "'Legacy' is not a valid plugin name: it must start with a lowercase letter and use"
            " only lowercase letters, digits and single hyphens",
            "use lowercase letters, digits and single hyphens, e.g. 'legacy'",
        ),
        ("disabled[2]", "'old' is listed twice", "remove it"),
        (
            "plugin.Bad Name",
            "'Bad Name' is not a valid plugin name: it must start with a lowercase letter and use"
            " only lowercase letters, digits and single hyphens",
            "use lowercase letters, digits and single hyphens, e.g. 'bad-name'",
        ),
        ("server.host", "is empty", 'e.g. host = "127.0.0.1"'),
        ("defaults.rate.kvv", "'kvv' cannot be rate limited", "did you mean 'kv'?"),
    ]


def test_the_error_message_lists_every_problem_with_file_and_key(tmp_path: Path) -> None:
    path = config_file(tmp_path, "[server]\nprot = 1\nport = -1\n")
    with pytest.raises(ConfigError) as caught:
        HostConfig.from_path(path)
    assert caught.value.message == (
        "the configuration has 2 problems:\n"
        f"  - {path}: server.prot: unknown key\n"
        f"  - {path}: server.port: -1 is not a TCP port"
    )


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILENAME
    assert problems(path) == [
        (
            "",
            "file not found",
            "pass the path of an existing pluginctl.toml, or none for the defaults",
        )
    ]


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    ((key, message, hint),) = problems(config_file(tmp_path, "[server\n"))
    assert key == ""
    assert message.startswith("not valid TOML: ")
    assert hint == "fix the TOML syntax at the line and column shown"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILENAME
    path.write_bytes(b'data_dir = "\xff"\n')
    ((key, message, hint),) = problems(path)
    assert (key, message, hint) == ("", "not UTF-8 (invalid start byte)", "save it as UTF-8")


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),  # noqa: S104  # the point of the test
        ("::", True),
        ("192.168.1.10", True),
        ("example.com", True),
    ],
)
def test_a_non_loopback_host_is_exposed(host: str, exposed: bool) -> None:
    assert ServerConfig(host=host).exposed is exposed


def test_problems_are_plain_problem_objects(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        HostConfig.from_path(config_file(tmp_path, "nope = 1"))
    assert caught.value.problems == (
        Problem(
            str(tmp_path / CONFIG_FILENAME),
            "nope",
            "unknown key",
            hint="valid keys here: data_dir, database_url, installed, plugins, disabled, server,"
            " defaults, plugin",
        ),
    )


def test_the_shape_documented_in_the_module_docstring_loads(tmp_path: Path) -> None:
    import pluginctl.runtime.host_config as module

    assert module.__doc__ is not None
    documented = module.__doc__.split("```toml\n")[1].split("```")[0]
    config = HostConfig.from_text(documented, base_dir=tmp_path)
    assert config.defaults.call_timeout_s == 5.0
    assert config.config_for("greeter") == {"greeting": "Hi"}
    assert config.data_dir == Path("~/.local/share/pluginctl").expanduser()
