"""``python -m bench <suite> [--quick] [--duration S] [--json PATH]``: run, print, write JSON.

``--duration`` sets how long a suite that runs for a set time (``chaos``) runs, in
seconds; the other suites refuse it.

Exit codes: 0 when every metric was measured (a missed goal is not a failure:
benchmarks are not tests, the report marks it ``"met": false``); 1 when a metric
could not be measured; 2 for a usage mistake such as an unknown suite.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench._errors import BenchError
from bench._machine import describe_machine
from bench._report import Report
from bench._suites import available_suites, describe_suite, load_suite, runner

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the suite named in ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = _parser().parse_args(argv)
    if args.list:
        for name in available_suites():
            print(f"{name}: {describe_suite(name)}")
        return 0
    if args.suite is None:
        _fail("name a suite", hint=f"available suites: {', '.join(available_suites())}")
        return 2
    try:
        run = runner(args.suite, load_suite(args.suite), duration_s=args.duration)
    except BenchError as exc:
        _fail(exc.message, hint=exc.hint)
        return 2
    report = Report(args.suite, describe_machine(), run(args.quick))
    if args.json is not None:
        report.write_json(args.json)
    print(report.table())
    return 1 if report.failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure pluginctl against its anchors in the same run.",
    )
    parser.add_argument("suite", nargs="?", help="the suite to run, e.g. cli")
    parser.add_argument("--quick", action="store_true", help="few repetitions, to prove it works")
    parser.add_argument(
        "--duration",
        type=_seconds,
        metavar="SECONDS",
        help="how long a suite that runs for a set time runs (chaos: each phase)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the report here")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    return parser


def _seconds(text: str) -> float:
    """A positive number of seconds, for ``--duration``."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"the duration must be positive, not {text}")
    return seconds


def _fail(message: str, *, hint: str | None) -> None:
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
