"""The {{ cookiecutter.name }} plugin for pluginctl hosts; its handlers are in ``plugin.py``."""
