"""Plugin data: where each plugin's database lives, what may run on it, its migrations.

`DatabaseTarget` says where one plugin's data is (a SQLite file by default, a schema
on PostgreSQL by URL) and opens engines on it; `classify` checks a plugin's statement
before it runs; `Migrations` runs the plugin's Alembic scripts.
"""

from __future__ import annotations

from pluginctl.data.statements import Statement, classify
from pluginctl.data.target import DatabaseTarget

__all__ = ["DatabaseTarget", "Statement", "classify"]
