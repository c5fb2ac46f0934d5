"""The registry and its marketplace: search over 10,000 projects; real clients against pypiserver.

The registry is a real `pluginctl.registry.store.RegistryStore` directory whose index
is filled through the index's own record path (`Index.record`, which writes each
file's row, its tombstone and its project's listing and search row, as publishing
does), with generated plugin releases: 1 to 3 versions a project (one in ten with
its newest yanked), names and descriptions from a 400-word vocabulary, a category,
1 to 4 of 60 tags, a host range of five, downloads skewed like real ones. No files
are written: search reads the index only.

Each search metric is a function of the shared `Workbench` listed in `METRICS`. The
client metrics (pip and uv installs, uploads, the simple index under load, each
against pypiserver serving the same files) are `bench._registry_clients`'s.

Metrics:
    search_p50_ms: `pluginctl.registry.marketplace.search`, in process, rotating
        through five queries: a word, a three-letter prefix, a category and a tag, a
        host version (every project, filtered), every project by downloads; the p50
        over all of them; no anchor; goal <= 20 ms. Extra: each query's p50 and the
        number of projects.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench._registry_clients import measure_clients
from bench._stats import p50
from bench._workers import EXPECTED_FAILURES, Spec, describe_failure

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

    from bench._metric import Metric
    from pluginctl.registry.distfile import DistFile
    from pluginctl.registry.index import Index
    from pluginctl.registry.store import RegistryStore

__all__ = ["METRICS", "Workbench", "run"]

SEARCH = Spec("search_p50_ms", "ms", None, "<= 20 ms")
PROJECTS = 10_000
QUICK_PROJECTS = 1_000
HOSTS = ("", ">=0.1", "==0.1.*", ">=0.1,<1", ">=0.2")
VOCABULARY = 400
TAGS = 60


@dataclass
class Workbench:
    """What the metrics share: a scratch directory and a registry of generated projects."""

    root: Path
    quick: bool
    _store: RegistryStore | None = field(default=None, init=False)
    words: list[str] = field(default_factory=list, init=False)

    @property
    def projects(self) -> int:
        return QUICK_PROJECTS if self.quick else PROJECTS

    @property
    def rounds(self) -> int:
        """How many times each query of a rotation runs."""
        return 20 if self.quick else 100

    @property
    def store(self) -> RegistryStore:
        """The registry, generated on first use."""
        if self._store is None:
            self._store, self.words = generate(self.root / "registry", projects=self.projects)
        return self._store


def run(*, quick: bool) -> list[Metric]:
    """Measure every metric of the suite; ``quick`` uses 1,000 projects and few runs."""
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as scratch:
        bench = Workbench(Path(scratch), quick=quick)
        searched = [_measured(spec, metric, bench) for spec, metric in METRICS]
    return [*searched, *measure_clients(quick=quick)]


def _measured(spec: Spec, metric: Callable[[Workbench], Metric], bench: Workbench) -> Metric:
    try:
        return metric(bench)
    except EXPECTED_FAILURES as exc:
        return spec.failed(describe_failure(exc))


# ---------------------------------------------------------------- generating


def generate(root: Path, *, projects: int, seed: int = 7) -> tuple[RegistryStore, list[str]]:
    """A registry at ``root`` holding ``projects`` generated plugin projects, and its words."""
    from pluginctl.registry.store import RegistryStore as Store

    rng = random.Random(seed)
    words = sorted({_word(rng) for _ in range(VOCABULARY)})
    tags = [f"{_word(rng)}-{_word(rng)}" for _ in range(TAGS)]
    store = Store(root)
    start = time.time() - projects * 60
    with store.index.writing() as db:
        for number in range(projects):
            for release in _releases(rng, number, words, tags):
                store.index.record(
                    db,
                    release,
                    metadata_sha256="0" * 64,
                    signed=True,
                    uploader="bench",
                    now=start + number * 60,
                )
        _yank_and_download(db, rng)
    return store, words


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))


def _releases(rng: random.Random, number: int, words: list[str], tags: list[str]) -> list[DistFile]:
    from pluginctl.manifest import CATEGORIES
    from pluginctl.registry.distfile import DistFile as Dist
    from pluginctl.registry.distfile import PluginFacts

    name = f"{rng.choice(words)}-{rng.choice(words)}-{number}"
    facts = PluginFacts(
        category=rng.choice(CATEGORIES),
        tags=tuple(rng.sample(tags, rng.randint(1, 4))),
        host=rng.choice(HOSTS),
        permissions=("kv",),
        description=" ".join(rng.choices(words, k=12)),
        signers=("0" * 64,),
    )
    summary = " ".join(rng.choices(words, k=5))
    return [
        Dist(
            filename=f"{name.replace('-', '_')}-1.{minor}-py3-none-any.whl",
            project=name,
            name=name,
            version=f"1.{minor}",
            kind="wheel",
            sha256=f"{number:032x}{minor:032x}",
            size=4096,
            metadata=b"",
            summary=summary,
            plugin=facts,
        )
        for minor in range(rng.randint(1, 3))
    ]


def _yank_and_download(db: sqlite3.Connection, rng: random.Random) -> None:
    """Downloads skewed like real ones; the newest release of one project in ten yanked."""
    from pluginctl.registry.index import refresh_listing

    files = [row[0] for row in db.execute("SELECT filename FROM files")]
    db.executemany(
        "UPDATE files SET downloads = ? WHERE filename = ?",
        [(int(rng.paretovariate(1.2) * 10), filename) for filename in files],
    )
    projects = [row[0] for row in db.execute("SELECT name FROM projects")]
    yanked = rng.sample(projects, len(projects) // 10)
    db.executemany(
        "UPDATE files SET yanked = 1, yank_reason = 'bench' WHERE project = ? AND version ="
        " (SELECT MAX(version) FROM files WHERE project = ?)",
        [(name, name) for name in yanked],
    )
    db.execute(
        "UPDATE listings SET downloads ="
        " (SELECT SUM(downloads) FROM files WHERE files.project = listings.project)"
    )
    for name in yanked:
        refresh_listing(db, name)


# ---------------------------------------------------------------- metrics


def search_p50_ms(bench: Workbench) -> Metric:
    """Marketplace search over the generated projects, rotating through five queries."""
    from pluginctl.registry import marketplace

    index = bench.store.index
    word = bench.words[len(bench.words) // 2]
    tag = _a_tag(index)
    queries: dict[str, Callable[[], marketplace.SearchPage]] = {
        "word": lambda: marketplace.search(index, word),
        "prefix": lambda: marketplace.search(index, word[:3]),
        "category_tag": lambda: marketplace.search(index, category="data", tag=tag),
        "host": lambda: marketplace.search(index, host_version="0.1.0"),
        "downloads": lambda: marketplace.search(index, sort="downloads"),
    }
    samples: dict[str, list[float]] = {kind: [] for kind in queries}
    for query in queries.values():
        query()  # warm the page cache and the host-range cache
    for _ in range(bench.rounds):
        for kind, query in queries.items():
            start = time.perf_counter_ns()
            query()
            samples[kind].append((time.perf_counter_ns() - start) / 1e6)
    every = [sample for kind in samples.values() for sample in kind]
    extra: dict[str, float | int | str] = {
        f"{k}_p50_ms": round(p50(v), 3) for k, v in samples.items()
    }
    extra["projects"] = bench.projects
    return SEARCH.alone(every, extra=extra)


def _a_tag(index: Index) -> str:
    """The most used tag."""
    with index.reading() as db:
        row = db.execute(
            "SELECT tag FROM listing_tags GROUP BY tag ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
    return str(row[0])


#: Every metric of the suite, with its spec, in the order measured.
METRICS: list[tuple[Spec, Callable[[Workbench], Metric]]] = [(SEARCH, search_p50_ms)]
