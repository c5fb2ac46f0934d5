"""The ``pluginctl`` command line: the only part of pluginctl that prints.

Each command lives in its own module and imports heavy libraries inside its body,
so ``pluginctl --help`` stays fast.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run pluginctl with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    A `pluginctl.errors.PluginctlError` prints ``error:`` and ``hint:`` lines and
    exits 1; a usage mistake exits 2; anything else is a bug and prints a short traceback.
    """
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # the one answer that needs no command-line parser
        from pluginctl._version import __version__

        sys.stdout.write(f"pluginctl {__version__}\n")
        return 0
    from pluginctl.cli._app import app

    try:
        app(args=args, prog_name="pluginctl")
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001  # a user's error or a bug: say which
        _report(exc, verbose=_is_verbose(args))
        return 1
    return 0


def _report(exc: Exception, *, verbose: bool) -> None:
    # pluginctl.errors is imported only here: --help never needs it
    from pluginctl.cli._output import report_bug, report_error
    from pluginctl.errors import PluginctlError

    if isinstance(exc, PluginctlError):
        report_error(exc)
    else:
        report_bug(exc, verbose=verbose)  # anything else is a bug: show it, ask for -v


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # SystemExit("message") convention
    return 1


def _is_verbose(args: list[str]) -> bool:
    return any(arg in ("-v", "--verbose") or arg.startswith("-vv") for arg in args)
