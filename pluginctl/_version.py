"""The version of pluginctl, kept here so `pluginctl --version` needs no metadata lookup."""

__version__ = "0.1.0"
