"""The host API services a plugin reaches through ``api``: kv, events, settings, ...

They live in the host process and are called by the RPC layer after
`pluginctl.runtime.policy.Policy` allowed the call.
"""

from __future__ import annotations

from pluginctl.services.events import EventBus
from pluginctl.services.kv import KeyValueStore
from pluginctl.services.settings import redacted, resolve_settings

__all__ = ["EventBus", "KeyValueStore", "redacted", "resolve_settings"]
