"""``python -m bench <suite> [--quick] [--json PATH]``: run a suite, print a table, write JSON.

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
from bench._suites import available_suites, describe_suite, load_suite

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
        suite = load_suite(args.suite)
    except BenchError as exc:
        _fail(exc.message, hint=exc.hint)
        return 2
    report = Report(args.suite, describe_machine(), suite.run(quick=args.quick))
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
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the report here")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    return parser


def _fail(message: str, *, hint: str | None) -> None:
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
