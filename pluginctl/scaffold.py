"""Create a plugin project from the cookiecutter template that ships with pluginctl.

`create_plugin` checks everything it can before it renders: the name, the
features, the target directory. It renders into a temporary directory inside the
output directory, checks the new ``plugin.toml``, and only then moves the project
into place, so a failure leaves nothing half-written.

Example:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> created = create_plugin("hello-world", output_dir=out, features=["routes"], no_input=True)
    >>> created.package, created.features, (created.path / "hello_world" / "plugin.toml").is_file()
    ('hello_world', ('routes',), True)
    >>> shutil.rmtree(out)
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pluginctl.errors import ManifestError, ScaffoldError
from pluginctl.manifest_rules import name_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "FEATURES",
    "TEMPLATE_ROOTS",
    "CreatedPlugin",
    "create_plugin",
    "find_template",
    "parse_features",
]

logger = logging.getLogger(__name__)

#: What ``--with`` may add to the base plugin, in the order they are reported.
FEATURES: tuple[str, ...] = ("routes", "db", "admin", "static")

_PACKAGE_DIR = Path(__file__).resolve().parent
#: Where templates are looked for: inside an installed wheel, then in a source checkout.
TEMPLATE_ROOTS: tuple[Path, ...] = (_PACKAGE_DIR / "_templates", _PACKAGE_DIR.parent / "templates")

#: Package names a plugin may not take, and what each would clash with.
_RESERVED = {"pluginctl": "pluginctl itself", "tests": "the project's tests directory"}


@dataclass(frozen=True, slots=True)
class CreatedPlugin:
    """A plugin project `create_plugin` wrote.

    Attributes:
        path: The project directory (holding ``pyproject.toml``).
        name: The plugin's name, also its distribution name.
        package: The import name of its package.
        features: The features included, in `FEATURES` order.
    """

    path: Path
    name: str
    package: str
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json`` output."""
        return {
            "path": str(self.path),
            "name": self.name,
            "package": self.package,
            "features": list(self.features),
        }


def create_plugin(
    name: str | None,
    *,
    output_dir: Path,
    features: Sequence[str] | None = None,
    author: str | None = None,
    description: str | None = None,
    no_input: bool = False,
    force: bool = False,
) -> CreatedPlugin:
    """Create the project of plugin ``name`` in ``output_dir / name``.

    Args:
        name: The plugin's name (``my-plugin``); None asks for it (not with ``no_input``).
        output_dir: The directory to create the project in; created when missing.
        features: What to include beyond the base plugin, from `FEATURES`;
            each item may list several, comma separated. None asks for each (or, with
            ``no_input``, includes none).
        author: The author's name for ``pyproject.toml``; None asks (or leaves it out).
        description: A one-line description; None asks (or uses the template's).
        no_input: Never prompt; use the template's defaults for what is not given.
        force: Replace an existing directory (only once the new project rendered).

    Raises:
        ScaffoldError: for a bad name, feature, text or target directory, or when
            rendering fails; nothing is created then.
    """
    chosen = None if features is None else parse_features(features)
    given = _given_values(name, author=author, description=description, features=chosen)

    def check(key: str, value: object) -> None:
        if key == "name":
            _check_name(str(value))
            _check_target(output_dir / str(value), force=force)
        elif key in ("author", "description"):
            _check_text(key, value)

    for key, value in given.items():
        check(key, value)
    if name is None and no_input:
        raise ScaffoldError(
            "a plugin name is required with --no-input",
            hint="pass it: pluginctl create NAME --no-input",
        )
    template = find_template()
    values = _answers(template, given, no_input=no_input, check=check)
    target = (output_dir / values["name"]).absolute()
    _render(template, values, target, force=force)
    logger.info("created plugin %s in %s", values["name"], target)
    return CreatedPlugin(
        path=target,
        name=values["name"],
        package=values["__package"],
        features=tuple(feature for feature in FEATURES if values[feature]),
    )


def parse_features(values: Iterable[str]) -> tuple[str, ...]:
    """The features named in ``values`` (each possibly comma separated), in canonical order.

    Example:
        >>> parse_features(["static,routes", "db"])
        ('routes', 'db', 'static')
    """
    named = {part.strip().lower() for value in values for part in value.split(",")} - {""}
    unknown = sorted(named - set(FEATURES))
    if unknown:
        listed = ", ".join(repr(feature) for feature in unknown)
        noun = "feature" if len(unknown) == 1 else "features"
        raise ScaffoldError(
            f"unknown {noun} {listed}; valid features: {', '.join(FEATURES)}",
            hint="pass a comma-separated list, e.g. --with routes,db",
        )
    return tuple(feature for feature in FEATURES if feature in named)


def find_template(name: str = "plugin", *, roots: Sequence[Path] = TEMPLATE_ROOTS) -> Path:
    """The directory of template ``name``: the first of ``roots`` that holds it."""
    for root in roots:
        candidate = root / name
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    searched = ", ".join(str(root / name) for root in roots)
    raise ScaffoldError(
        f"the {name!r} project template is missing from this pluginctl installation "
        f"(looked in {searched})",
        hint="reinstall pluginctl: pip install --force-reinstall pluginctl",
    )


# -- checks ---------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if problem := name_problem(name, source="NAME"):
        message = problem.message
        if not message.startswith(repr(name)):
            message = f"the plugin name {message}"
        raise ScaffoldError(message, hint=problem.hint)
    package = name.replace("-", "_")
    if package in sys.stdlib_module_names:
        clash = "a standard library module"
    elif package in _RESERVED:
        clash = _RESERVED[package]
    else:
        return
    raise ScaffoldError(
        f"{name!r} cannot be a plugin name: its package {package!r} would clash with {clash}",
        hint=f"pick another name, e.g. '{name}-plugin'",
    )


def _check_target(target: Path, *, force: bool) -> None:
    if os.path.lexists(target) and not force:
        kind = "directory" if target.is_dir() else "file"
        raise ScaffoldError(
            f"the {kind} {target} already exists",
            hint="pick another name or --output-dir, or pass --force to replace it",
        )
    if target.parent.exists() and not target.parent.is_dir():
        raise ScaffoldError(
            f"the output directory {target.parent} is a file",
            hint="pass a directory to --output-dir",
        )


def _check_text(key: str, text: object) -> None:
    if not isinstance(text, str) or not text.isprintable():
        raise ScaffoldError(
            f"the {key} {text!r} must be one line of printable text",
            hint=f"pass a single line to --{key}; put details in the README",
        )


# -- answers ----------------------------------------------------------------------------


def _given_values(
    name: str | None,
    *,
    author: str | None,
    description: str | None,
    features: tuple[str, ...] | None,
) -> dict[str, Any]:
    given: dict[str, Any] = {
        key: value
        for key, value in (("name", name), ("author", author), ("description", description))
        if value is not None
    }
    if features is not None:
        given.update({feature: feature in features for feature in FEATURES})
    given["__requires_pluginctl"], given["__host"] = _pluginctl_ranges()
    return given


def _pluginctl_ranges() -> tuple[str, str]:
    """The pluginctl versions a new plugin depends on, and the host range it declares."""
    from packaging.version import Version

    from pluginctl._version import __version__

    major, minor = (*Version(__version__).release, 0)[:2]
    upper = f"0.{minor + 1}" if major == 0 else str(major + 1)
    return f">={major}.{minor},<{upper}", f">={major}.{minor},<{major + 1}"


def _answers(
    template: Path,
    given: Mapping[str, Any],
    *,
    no_input: bool,
    check: Callable[[str, object], None],
) -> dict[str, Any]:
    """The template's variables: ``given`` ones as they are, the rest asked or defaulted.

    Given values are never rendered as Jinja (a description may contain ``{{``), and only
    the variables not given are prompted for, unlike ``cookiecutter`` itself. ``check``
    sees each answer as soon as it is given, so a bad name fails before the next question.
    """
    from cookiecutter.prompt import render_variable

    env, raw = _template_variables(template)
    prompts = raw.pop("__prompts__", {})
    visible = [key for key in raw if not key.startswith("_")]
    asked = [key for key in visible if key not in given]
    values: dict[str, Any] = {}
    for key in visible:
        if key in given:
            values[key] = given[key]
            continue
        default = raw[key] if isinstance(raw[key], bool) else render_variable(env, raw[key], values)
        if not no_input:
            default = _ask(key, default, prompts, f"[{asked.index(key) + 1}/{len(asked)}]")
        values[key] = default
        check(key, default)
    for key, value in raw.items():
        if key.startswith("__"):  # derived, e.g. the package name: rendered, never asked
            values[key] = given.get(key) or render_variable(env, value, values)
        elif key.startswith("_"):  # cookiecutter's own settings
            values[key] = value
    return values


def _template_variables(template: Path) -> tuple[Any, dict[str, Any]]:
    """The Jinja environment of ``template`` and its ``cookiecutter.json``, in order."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context
    from cookiecutter.utils import create_env_with_context

    try:
        context = generate_context(context_file=str(template / "cookiecutter.json"))
    except CookiecutterException as exc:
        raise _template_broken(template, exc) from None
    return create_env_with_context(context), dict(context["cookiecutter"])


def _ask(key: str, default: object, prompts: Mapping[str, str], position: str) -> object:
    """Ask for ``key`` with cookiecutter's own prompts (yes/no for booleans)."""
    from cookiecutter.prompt import read_user_variable, read_user_yes_no

    ask = read_user_yes_no if isinstance(default, bool) else read_user_variable
    try:
        answer: object = ask(key, default, prompts, f"  [dim]{position}[/] ")
    except EOFError:
        raise ScaffoldError(
            f"input ended before {key!r} was answered; nothing was created",
            hint="answer every question, or pass NAME, the options and --no-input",
        ) from None
    return answer


# -- rendering --------------------------------------------------------------------------


def _render(template: Path, values: dict[str, Any], target: Path, *, force: bool) -> None:
    """Render into a staging directory beside ``target``, check it, then move it there."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as exc:
        raise ScaffoldError(
            f"cannot write to {target.parent}: {exc.strerror}",
            hint="pick a writable --output-dir",
        ) from None
    try:
        project = _generate(template, values, staging)
        _self_check(project / values["__package"])
        _move_into_place(project, target, staging / "previous", force=force)
    except OSError as exc:
        raise ScaffoldError(
            f"cannot create {target}: {exc.strerror or exc}",
            hint="check the permissions and free space of the output directory",
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _generate(template: Path, values: dict[str, Any], staging: Path) -> Path:
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_files
    from jinja2 import TemplateError

    try:
        # A directory whose name renders empty (a feature left out) resolves to its parent,
        # which exists; overwrite_if_exists lets cookiecutter skip it instead of failing.
        # Nothing is overwritten: ``staging`` is new and empty.
        project = generate_files(
            repo_dir=str(template),
            context={"cookiecutter": values},
            output_dir=str(staging),
            overwrite_if_exists=True,
            accept_hooks=False,
        )
    except (CookiecutterException, TemplateError) as exc:
        raise _template_broken(template, exc) from None
    return Path(str(project))


def _self_check(package_dir: Path) -> None:
    from pluginctl.manifest import Manifest

    try:
        Manifest.from_path(package_dir)
    except ManifestError as exc:
        details = "; ".join(
            f"{problem.key}: {problem.message}" if problem.key else problem.message
            for problem in exc.problems
        )
        hint = exc.problems[0].hint if len(exc.problems) == 1 else None
        raise ScaffoldError(f"the new plugin.toml would be invalid: {details}", hint=hint) from None


def _move_into_place(project: Path, target: Path, backup: Path, *, force: bool) -> None:
    if not os.path.lexists(target):
        project.rename(target)
        return
    if not force:  # it appeared while we rendered
        _check_target(target, force=False)
    target.rename(backup)
    try:
        project.rename(target)
    except OSError:
        backup.rename(target)
        raise


def _template_broken(template: Path, exc: Exception) -> ScaffoldError:
    message = getattr(exc, "message", None) or str(exc)
    if cause := getattr(getattr(exc, "error", None), "message", None):  # a Jinja error
        message = f"{message} ({cause})"
    return ScaffoldError(
        f"the project template {template} is broken: {message}",
        hint="reinstall pluginctl; if that does not help, report this as a bug",
    )
