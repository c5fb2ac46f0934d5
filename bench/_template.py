"""Read the plugin template's ``cookiecutter.json`` to render it with chosen features.

The ``create`` benchmark runs the ``cookiecutter`` CLI on the same template as
``pluginctl create``, so both must render the same name and features. The template's
variable names are its own business; this module finds the name variable and one
flag per feature by their names and answers "yes" in whatever form the flag takes.

Example:
    >>> spec = {
    ...     "plugin_name": "my-plugin",
    ...     "with_routes": "n",
    ...     "db": False,
    ...     "admin": ["no", "yes"],
    ...     "author": "me",
    ... }
    >>> extra_context(spec, name="demo", features=["routes", "db", "admin"])
    {'plugin_name': 'demo', 'with_routes': 'y', 'db': 'yes', 'admin': 'yes'}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from bench._errors import BenchError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["TEMPLATE_DIR", "extra_context", "read_spec"]

#: The repository's plugin template, rendered by ``pluginctl create``.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "plugin"

_NAME_KEYS = ("name", "plugin_name", "project_name", "plugin_slug", "project_slug", "slug")
_FEATURE_WORDS = {"db": ("db", "database")}
_FEATURE_LISTS = ("features", "with")
_YES = {"n": "y", "no": "yes", "false": "true", "y": "y", "yes": "yes", "true": "true"}


def read_spec(template: Path = TEMPLATE_DIR) -> dict[str, object]:
    """The template's ``cookiecutter.json``.

    Raises:
        BenchError: when it does not exist yet or is not a JSON object.
    """
    path = template / "cookiecutter.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(
            f"{path} does not exist", hint="the create benchmark needs the plugin template"
        ) from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise BenchError(f"{path} is not a JSON object")
    return spec


def extra_context(
    spec: Mapping[str, object], *, name: str, features: Sequence[str]
) -> dict[str, str]:
    """The ``key=value`` answers that render ``spec`` with ``name`` and ``features`` on.

    Raises:
        BenchError: when the template has no name variable or no flag for a feature.
    """
    public = {key: value for key, value in spec.items() if not key.startswith("_")}
    context = {_name_key(public): name}
    listed = next((k for k in _FEATURE_LISTS if isinstance(public.get(k), str)), None)
    if listed is not None:
        context[listed] = ",".join(features)
        return context
    missing = []
    for feature in features:
        flag = _feature_flag(public, feature)
        if flag is None:
            missing.append(feature)
        else:
            key, on = flag
            context[key] = on
    if missing:
        raise BenchError(
            f"the template's cookiecutter.json has no flag for {', '.join(missing)}",
            hint=f"variables there: {', '.join(public)}",
        )
    return context


def _name_key(spec: Mapping[str, object]) -> str:
    for key in _NAME_KEYS:
        if isinstance(spec.get(key), str):
            return key
    raise BenchError(
        "the template's cookiecutter.json has no plugin name variable",
        hint=f"expected one of {', '.join(_NAME_KEYS)}",
    )


def _feature_flag(spec: Mapping[str, object], feature: str) -> tuple[str, str] | None:
    """The flag variable that switches ``feature`` on, and the answer that does it."""
    words = _FEATURE_WORDS.get(feature, (feature,))
    for key, default in spec.items():
        tokens = re.split(r"[_\W]+", key.lower())
        on = _yes(default)
        if on is not None and any(word in tokens for word in words):
            return key, on
    return None


def _yes(default: object) -> str | None:
    """How a flag with this default says "on", or None when it is no flag."""
    if isinstance(default, bool):
        return "yes"
    if isinstance(default, str):
        return _YES.get(default.lower())
    if isinstance(default, list):
        choices = [c for c in default if isinstance(c, str) and c.lower() in _YES.values()]
        return choices[0] if choices else None
    return None
