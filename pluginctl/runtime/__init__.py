"""The host's runtime: workers, RPC, supervision, sandboxing, policy and the audit log.

Import the modules directly (``from pluginctl.runtime.policy import Policy``): they are
loaded only by the host, never by the CLI's start-up.
"""

__all__: list[str] = []
