"""How every host command finds its ``pluginctl.toml`` and applies its options."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pluginctl.runtime.host_config import HostConfig

__all__ = ["load_host_config"]


def load_host_config(
    path: Path | None, *, data_dir: Path | None = None, installed: bool = True
) -> HostConfig:
    """The host config at ``path`` (or ./pluginctl.toml, or the defaults), with overrides."""
    from pluginctl.runtime.host_config import HostConfig

    found = path or HostConfig.find(Path.cwd())
    config = HostConfig.from_path(found) if found else HostConfig.default()
    changes: dict[str, object] = {}
    if data_dir is not None:
        changes["data_dir"] = data_dir.resolve()
    if not installed:
        changes["installed"] = False
    return dataclasses.replace(config, **changes) if changes else config  # type: ignore[arg-type]
