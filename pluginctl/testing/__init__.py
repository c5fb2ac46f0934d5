"""Testing plugins against a real host: the pytest plugin's fixtures and their types.

``pip install pluginctl`` registers the pytest plugin (entry point ``pytest11``), so
a plugin project's tests get these fixtures under plain ``pytest`` and under
``pluginctl test``: ``plugin``, ``client``, ``host``, ``events``. See
`pluginctl.testing.pytest_plugin`.
"""

from pluginctl.testing.harness import EventRecorder, PublishedEvent, TestedPlugin, TestHost

__all__ = ["EventRecorder", "PublishedEvent", "TestHost", "TestedPlugin"]
