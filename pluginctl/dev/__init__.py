"""``pluginctl dev``: a host that follows a plugin's source and hot-swaps it on save."""
