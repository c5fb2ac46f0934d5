"""Building, signing and verifying plugin wheels, against python -m build and sha256sum.

A wheel of 50 MB in 200 incompressible members is signed and verified in process
(`pluginctl.signing.sign_wheel`, `pluginctl.signing.verify_wheel`, every check), and
``sha256sum`` reads the same file, warm in the page cache, in the same rotation
(ABAB...). Signing and verifying are bound by hashing: the wheel once, and every
member once as it inflates.

Metrics:
    sign_50mb_ms: sign the 50 MB wheel; against ``sha256sum`` of it; goal <= 3.
    verify_50mb_ms: verify it, every check; against the same anchor; goal <= 3.
    verify_small_ms: verify the ``hello`` example's wheel (built with ``python -m build
        --no-isolation``); no anchor; goal <= 5 ms.
    build_ms: ``pluginctl build --no-isolation`` on a copy of examples/hello against
        ``python -m build --no-isolation`` on the same copy; goal <= 1.1
        (see `bench._build`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench._build import FULL, QUICK, measure_build_ms
from bench._errors import BenchError
from bench._wheels import big_wheel, hello_wheel
from bench._workers import Spec

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench._metric import Metric
    from pluginctl.signing.keys import SigningKey
    from pluginctl.signing.trust import TrustStore

__all__ = ["run"]

SHA256SUM = "sha256sum of the same file (coreutils, page cache warm)"
SIGN = Spec("sign_50mb_ms", "ms", SHA256SUM, "<= 3")
VERIFY = Spec("verify_50mb_ms", "ms", SHA256SUM, "<= 3")
SMALL = Spec("verify_small_ms", "ms", None, "<= 5 ms")


def run(*, quick: bool) -> list[Metric]:
    """Measure the suite's metrics; ``quick`` uses a 5 MB wheel and few runs."""
    from pluginctl.signing.keys import SigningKey as Key
    from pluginctl.signing.sign import sign_wheel
    from pluginctl.signing.trust import TrustStore as Store
    from pluginctl.signing.verify import verify_wheel

    runs = 3 if quick else 15
    key = Key.generate("bench")
    with tempfile.TemporaryDirectory(prefix="bench-sign-") as scratch:
        root = Path(scratch)
        trust = Store.load(project_file=root / "pluginctl.trust.toml", user_file=root / "u.toml")
        trust.trust(key.public, name="bench", projects=["*"])
        wheel = big_wheel(root, total_mb=5 if quick else 50)
        sha256sum = _sha256sum(wheel)

        def verify() -> None:
            report = verify_wheel(wheel, trust=trust)
            if report.error is not None:
                raise BenchError(f"the benchmark wheel failed verification: {report.error}")

        signing = _rotate(lambda: sign_wheel(wheel, key), sha256sum, runs)
        verifying = _rotate(verify, sha256sum, runs)
        extra = {"wheel_mb": round(wheel.stat().st_size / 1e6, 1), "members": 200}
        signed = [
            SIGN.compare(*signing, extra=extra),
            VERIFY.compare(*verifying, extra=extra),
            _small(root, key, trust, runs * 10),
        ]
    build_runs, build_warmups = QUICK if quick else FULL
    return [*signed, measure_build_ms(runs=build_runs, warmups=build_warmups)]


def _small(root: Path, key: SigningKey, trust: TrustStore, runs: int) -> Metric:
    from pluginctl.signing.sign import sign_wheel
    from pluginctl.signing.verify import verify_wheel

    try:
        wheel = hello_wheel(root / "hello-build")
    except BenchError as exc:
        return SMALL.failed(str(exc))
    sign_wheel(wheel, key)
    samples = []
    for _ in range(runs + 1):
        start = time.perf_counter_ns()
        report = verify_wheel(wheel, trust=trust)
        samples.append((time.perf_counter_ns() - start) / 1e6)
        if report.error is not None:
            return SMALL.failed(f"the hello wheel failed verification: {report.error}")
    return SMALL.alone(samples[1:], extra={"wheel_kb": round(wheel.stat().st_size / 1024, 1)})


def _sha256sum(wheel: Path) -> Callable[[], None]:
    program = shutil.which("sha256sum")
    if program is None:
        raise BenchError("sha256sum is not installed (coreutils)")

    def anchor() -> None:
        subprocess.run([program, str(wheel)], capture_output=True, check=True)

    return anchor


def _rotate(
    subject: Callable[[], object], anchor: Callable[[], object], runs: int
) -> tuple[list[float], list[float]]:
    """Time ``subject`` and ``anchor`` alternately, after one warm-up of each."""
    subject()
    anchor()
    subject_ms: list[float] = []
    anchor_ms: list[float] = []
    for _ in range(runs):
        subject_ms.append(_time(subject))
        anchor_ms.append(_time(anchor))
    return subject_ms, anchor_ms


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1e6
