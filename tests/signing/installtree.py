"""Plugin wheels installed by hand into a bare site-packages directory, as pip lays them out.

Fast stand-ins for a real ``pluginctl install``: the tests here tamper with the tree
as an attacker who may write in site-packages (but not in the trust store) would.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from importlib.metadata import Distribution
from typing import TYPE_CHECKING

from pluginctl.signing.installed import attach_signature
from pluginctl.signing.sign import signature_path

if TYPE_CHECKING:
    from pathlib import Path


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def install(wheel: Path, site: Path) -> Distribution:
    """Unpack ``wheel`` into ``site`` with pip's INSTALLER and RECORD, and keep its .sig."""
    rows: list[list[str]] = []
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            target = site / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if not info.filename.endswith(".dist-info/RECORD"):
                rows.append([info.filename, record_hash(data), str(len(data))])
    (dist_info,) = {row[0].split("/")[0] for row in rows if ".dist-info/" in row[0]}
    (site / dist_info / "INSTALLER").write_text("pip\n")
    rows += [
        [f"{dist_info}/INSTALLER", record_hash(b"pip\n"), "4"],
        [f"{dist_info}/RECORD", "", ""],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    (site / dist_info / "RECORD").write_text(buffer.getvalue())
    dist = Distribution.at(site / dist_info)
    attach_signature(dist, signature_path(wheel).read_bytes())
    return dist
