"""Percentiles of timing samples."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["p50", "p95", "percentile"]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``samples``, interpolating linearly between ranks.

    This is the "inclusive" definition (numpy's default): the minimum is the 0th
    percentile and the maximum the 100th.

    Args:
        samples: The measurements, in any order.
        q: The percentile, from 0 to 100.

    Raises:
        ValueError: when ``samples`` is empty or ``q`` is outside 0..100.

    Example:
        >>> percentile([3, 1, 2, 4], 50)
        2.5
        >>> percentile([10, 20], 0), percentile([10, 20], 100)
        (10.0, 20.0)
    """
    if not samples:
        raise ValueError("no samples to take a percentile of")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


def p50(samples: Sequence[float]) -> float:
    """The median.

    Example:
        >>> p50([5, 1, 3])
        3.0
    """
    return percentile(samples, 50)


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile: what a slow run looks like, ignoring the worst outliers.

    Example:
        >>> round(p95(range(1, 101)), 2)
        95.05
    """
    return percentile(samples, 95)
