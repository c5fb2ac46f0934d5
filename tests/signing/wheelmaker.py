"""Plugin wheels built by the tests, and the hostile variants the verifier must refuse.

`make_wheel` writes a real, installable plugin wheel (dist-info, RECORD, entry point,
plugin.toml, a module); `rewrite` copies one with members changed, added or
removed, with or without regenerating RECORD, as an attacker would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import warnings
import zipfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

PLUGIN_PY = b"""from pluginctl import Plugin

plugin = Plugin()


@plugin.on_start
async def started(api):
    api.log.info("started")
"""

#: A fixed timestamp, so two builds of one spec are byte-identical.
DATE = (2026, 1, 1, 0, 0, 0)


def package(name: str) -> str:
    return name.replace("-", "_")


def _toml_value(value: str | list[str]) -> str:
    # a JSON string (ASCII-escaped) is a TOML basic string; a JSON list of them a TOML array
    return json.dumps(value)


def plugin_files(
    name: str = "demo",
    version: str = "1.0",
    *,
    host: str = "",
    facts: Mapping[str, str | list[str]] | None = None,
    summary: str = "",
) -> dict[str, bytes]:
    """The members of a minimal plugin wheel, RECORD not included.

    ``facts`` adds plugin.toml keys (``category``, ``tags``, ``permissions``,
    ``description``); ``summary`` the metadata's ``Summary``.
    """
    pkg = package(name)
    dist_info = f"{pkg}-{version}.dist-info"
    manifest = f'name = "{name}"\nversion = "{version}"\n' + (f'host = "{host}"\n' if host else "")
    manifest += "".join(f"{key} = {_toml_value(value)}\n" for key, value in (facts or {}).items())
    summary_line = f"Summary: {summary}\n" if summary else ""
    return {
        f"{pkg}/__init__.py": b"",
        f"{pkg}/plugin.py": PLUGIN_PY,
        f"{pkg}/plugin.toml": manifest.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{summary_line}"
            "Requires-Dist: pluginctl\n\nA demo plugin.\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: wheelmaker\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{dist_info}/entry_points.txt": (
            f"[pluginctl.plugins]\n{name} = {pkg}.plugin:plugin\n".encode()
        ),
    }


def record_for(files: Mapping[str, bytes], dist_info: str) -> bytes:
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{dist_info}/RECORD,,")
    return ("\n".join(lines) + "\n").encode()


def dist_info_of(files: Mapping[str, bytes]) -> str:
    return next(p.split("/")[0] for p in files if p.split("/")[0].endswith(".dist-info"))


def write_zip(
    path: Path, files: Mapping[str, bytes], *, infos: Mapping[str, zipfile.ZipInfo] | None = None
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which tests want
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                info = (infos or {}).get(name) or zipfile.ZipInfo(name, DATE)
                if info.compress_type == zipfile.ZIP_STORED and name not in (infos or {}):
                    info.compress_type = zipfile.ZIP_DEFLATED
                if not info.external_attr:
                    info.external_attr = 0o100644 << 16
                archive.writestr(info, data)
    return path


def make_wheel(
    directory: Path,
    name: str = "demo",
    version: str = "1.0",
    *,
    extra: Mapping[str, bytes] | None = None,
    host: str = "",
    facts: Mapping[str, str | list[str]] | None = None,
    summary: str = "",
) -> Path:
    """A valid plugin wheel ``name-version-py3-none-any.whl`` in ``directory``.

    ``facts`` adds plugin.toml keys, ``summary`` the metadata's ``Summary``.
    """
    files = plugin_files(name, version, host=host, facts=facts, summary=summary) | dict(extra or {})
    dist_info = dist_info_of(files)
    files[f"{dist_info}/RECORD"] = record_for(files, dist_info)
    return write_zip(directory / f"{package(name)}-{version}-py3-none-any.whl", files)


def members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rewrite(
    wheel: Path,
    *,
    replace: Mapping[str, bytes] | None = None,
    add: Mapping[str, bytes] | None = None,
    remove: frozenset[str] = frozenset(),
    regenerate_record: bool = False,
    target: Path | None = None,
) -> Path:
    """A copy of ``wheel`` (in place by default) with members changed as an attacker would."""
    files = members(wheel)
    files = {p: (replace or {}).get(p, data) for p, data in files.items() if p not in remove}
    files |= dict(add or {})
    if regenerate_record:
        dist_info = dist_info_of(files)
        del files[f"{dist_info}/RECORD"]
        files[f"{dist_info}/RECORD"] = record_for(files, dist_info)
    out = target or wheel
    out.unlink(missing_ok=True)
    return write_zip(out, files)
