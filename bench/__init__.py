"""Benchmarks that measure pluginctl against its anchors in the same run.

Run a suite with ``python -m bench <suite> [--quick] --json PATH``. Each suite is a
module in this package (``bench/cli.py`` is the suite ``cli``) whose ``run`` function
returns `bench._metric.Metric` objects; the runner writes them as JSON and
prints a table. Ratios, not absolute times, are the figures to compare across
machines: subject and anchor run interleaved, so drift hits both alike.
"""

from __future__ import annotations

__all__: list[str] = []
