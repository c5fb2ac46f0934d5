"""Testing plugins against a real host: the pytest plugin's fixtures and their types.

``pip install pluginctl`` registers the pytest plugin (entry point ``pytest11``), so
a plugin project's tests get these fixtures under plain ``pytest`` and under
``pluginctl test``: ``plugin``, ``client``, ``host``, ``events``, and for code on
PostgreSQL ``postgres_url`` and ``pluginctl_postgres``. See
`pluginctl.testing.pytest_plugin`.

`TemporaryPostgres` is the throwaway PostgreSQL server behind the last two, for
use outside pytest too.
"""

from pluginctl.testing.harness import EventRecorder, PublishedEvent, TestedPlugin, TestHost
from pluginctl.testing.postgres import (
    PostgresStartFailed,
    PostgresUnavailable,
    TemporaryPostgres,
)

__all__ = [
    "EventRecorder",
    "PostgresStartFailed",
    "PostgresUnavailable",
    "PublishedEvent",
    "TemporaryPostgres",
    "TestHost",
    "TestedPlugin",
]
