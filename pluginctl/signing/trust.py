"""Trust stores: which public keys may sign which projects, from when to when, and their status.

There are two: the user's (``trust.toml`` in the user config directory) and the
project's (``pluginctl.trust.toml``, committed with the code, found in the current
directory or the nearest parent up to the repository root). Both hold the same
TOML, an array of tables::

    # pluginctl.trust.toml
    [[key]]
    id = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"
    name = "acme release key"
    public_key = "ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    projects = ["acme-*"]           # fnmatch patterns over PEP 503 names
    not_after = 2027-01-01          # optional, as is not_before
    status = "active"               # or "retired", "revoked"
    added = 2025-06-01

A revocation in either store wins; otherwise a key is trusted for a project when
an active or retired, in-date entry in either store admits the project's name.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec
from packaging.utils import canonicalize_name

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import Problem, SigningKeyError, TrustStoreError
from pluginctl.manifest_rules import conversion_problem, find_unknown_keys
from pluginctl.signing.keys import PublicKey, match_key_id, user_config_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from tomlkit.items import AoT

__all__ = [
    "TRUST_FILENAME",
    "StoredEntry",
    "TrustDecision",
    "TrustEntry",
    "TrustStore",
    "find_project_trust_file",
    "parse_trust_text",
]

#: The project's trust store, committed next to the code.
TRUST_FILENAME = "pluginctl.trust.toml"

Status = Literal["active", "retired", "revoked"]
Store = Literal["project", "user"]

_TOML_HINT = "fix the TOML syntax at the line and column shown"


class TrustEntry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One ``[[key]]`` table: a public key, what it may sign, and until when.

    Attributes:
        id: The key id, the hex sha256 of the raw public key (checked).
        name: Whose key it is, for people.
        public_key: ``ed25519:`` and the base64 of the 32-byte raw public key.
        projects: fnmatch patterns over normalised project names: ``"acme-*"``, ``"*"``.
        not_before: The first day it may sign, if any.
        not_after: The last day it may sign, if any.
        status: ``active``; ``retired`` (still verifies, no longer signs); ``revoked``
            (refused everywhere, whatever the other store says).
        reason: Why it was revoked.
        added: When it was trusted.
        retired_on: When it was retired.
        revoked_on: When it was revoked.
    """

    id: str
    name: str
    public_key: str
    projects: list[str]
    not_before: date | None = None
    not_after: date | None = None
    status: Status = "active"
    reason: str = ""
    added: date | None = None
    retired_on: date | None = None
    revoked_on: date | None = None

    @property
    def short_id(self) -> str:
        """The first 16 hex characters of the id."""
        return self.id[:16]

    @property
    def public(self) -> PublicKey:
        """The public key (checked against `id` when the file was read)."""
        return PublicKey.from_text(self.public_key)

    def admits(self, project: str) -> bool:
        """Whether one of `projects` matches ``project``'s normalised name.

        Example:
            >>> entry = TrustEntry(id="", name="", public_key="", projects=["acme-*"])
            >>> entry.admits("Acme_Tools"), entry.admits("other")
            (True, False)
        """
        name = canonicalize_name(project)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.projects)


class _TrustFile(msgspec.Struct, forbid_unknown_fields=True):
    key: list[TrustEntry] = []


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A trust entry and the store it came from (``project`` or ``user``) and its file."""

    entry: TrustEntry
    store: Store
    path: Path


@dataclass(frozen=True, slots=True)
class TrustDecision:
    """Whether a key may sign a project today, and if not, the one reason why.

    Attributes:
        trusted: The verdict.
        key_id: The key asked about.
        reason: Empty when trusted, else ``untrusted key …``, ``key … may sign only …``,
            ``key … was revoked on …``, ``key … expired on …`` or ``… not valid before …``.
        hint: The command or step that would change the verdict, when there is one.
        entry: The entry that decided it (the admitting one, or the refusing one).
        public_key: The key, when a store lists it.
        note: Something worth saying even when trusted: ``retired on …``.
    """

    trusted: bool
    key_id: str
    reason: str = ""
    hint: str | None = None
    entry: TrustEntry | None = None
    public_key: PublicKey | None = None
    note: str = ""


def parse_trust_text(text: str, *, source: str) -> list[TrustEntry]:
    r"""Read and check a trust file's TOML; ``source`` names it in problems.

    Raises:
        TrustStoreError: listing every problem as ``file: key path: message`` with a fix.

    Example:
        >>> parse_trust_text('[[key]]\nid = "x"\nname = 1', source="t.toml")
        Traceback (most recent call last):
        ...
        pluginctl.errors.TrustStoreError: t.toml: key[0].name: expected str, got int
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem = Problem(source, "", f"not valid TOML: {exc}", hint=_TOML_HINT)
        raise TrustStoreError([problem]) from None
    problems = find_unknown_keys(data, _TrustFile, source=source)
    tables = data.get("key", [])
    if not isinstance(tables, list):
        problems.append(
            Problem(source, "key", "must be an array of tables", hint="write each key as [[key]]")
        )
    if problems:
        raise TrustStoreError(problems)
    entries: list[TrustEntry] = []
    for index, table in enumerate(tables):
        try:
            entries.append(msgspec.convert(table, TrustEntry))
        except msgspec.ValidationError:
            where = f"key[{index}]"
            problems.append(conversion_problem(table, TrustEntry, source=source, base=where))
    if not problems:
        from pluginctl.signing._trust_rules import file_problems

        problems.extend(file_problems(entries, source))
    if problems:
        raise TrustStoreError(problems)
    return entries


def find_project_trust_file(start: Path) -> Path | None:
    """``pluginctl.trust.toml`` in ``start`` or its nearest parent, stopping at a ``.git`` root."""
    for directory in (start, *start.parents):
        candidate = directory / TRUST_FILENAME
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists():
            return None
    return None


def _read_entries(path: Path) -> list[TrustEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(str(path), "", f"cannot be read: {exc}", hint="fix or remove the file")
        raise TrustStoreError([problem]) from None
    return parse_trust_text(text, source=str(path))


class TrustStore:
    """The user's and the project's trust stores, read together and edited one at a time.

    Example:
        >>> import pathlib, tempfile
        >>> home = pathlib.Path(tempfile.mkdtemp())
        >>> store = TrustStore.load(user_file=home / "trust.toml", start=home)
        >>> key = PublicKey(bytes(32))
        >>> _ = store.trust(key, name="acme", projects=["acme-*"])
        >>> store.decide(key.key_id, "acme-tools").trusted
        True
        >>> store.decide(key.key_id, "other").reason
        "key 66687aadf862bd77 may sign only acme-*, not 'other'"
    """

    def __init__(self, *, project_file: Path, user_file: Path) -> None:
        self._paths: dict[Store, Path] = {"project": project_file, "user": user_file}
        self._entries: dict[Store, list[TrustEntry]] = {
            "project": _read_entries(project_file),
            "user": _read_entries(user_file),
        }

    @classmethod
    def load(
        cls,
        *,
        project_file: Path | None = None,
        user_file: Path | None = None,
        start: Path | None = None,
    ) -> TrustStore:
        """Read both stores; either file may be absent (it is then empty).

        Args:
            project_file: The project store (default: `find_project_trust_file` from
                ``start``; when there is none, ``pluginctl.trust.toml`` in ``start``,
                where an edit would create it).
            user_file: The user store (default: ``trust.toml`` in the user config directory).
            start: Where to look for the project store (default: the current directory).

        Raises:
            TrustStoreError: if a file breaks the schema.
        """
        start = start or Path.cwd()
        project = project_file or find_project_trust_file(start) or start / TRUST_FILENAME
        return cls(project_file=project, user_file=user_file or user_config_path() / "trust.toml")

    @property
    def project_file(self) -> Path:
        """The project store's file (it may not exist yet)."""
        return self._paths["project"]

    @property
    def user_file(self) -> Path:
        """The user store's file (it may not exist yet)."""
        return self._paths["user"]

    def entries(self) -> list[StoredEntry]:
        """Every entry, the project store's first, each with its store and file."""
        return [
            StoredEntry(entry, store, self._paths[store])
            for store in ("project", "user")
            for entry in self._entries[store]
        ]

    def public_key(self, key_id: str) -> PublicKey | None:
        """The public key with this id, if either store lists it."""
        found = self._listing(key_id.lower())
        return found[0].entry.public if found else None

    def resolve(self, prefix: str) -> str:
        """The one listed key id that starts with ``prefix``.

        Raises:
            SigningKeyError: when none or several do.
        """
        ids = {stored.entry.id for stored in self.entries()}
        return match_key_id(prefix, ids, where="the trust stores")

    def decide(
        self,
        key_id: str,
        project: str,
        *,
        today: date | None = None,
        offered: PublicKey | None = None,
    ) -> TrustDecision:
        """Whether key ``key_id`` may sign ``project`` on ``today`` (default: today).

        ``offered`` is the public key a signature came with, if any: for an untrusted
        key the hint then gives the exact ``pluginctl keys trust`` command.
        """
        from pluginctl.signing._decide import decide

        return decide(
            self._listing(key_id.lower()),
            key_id.lower(),
            project,
            today=today or date.today(),
            offered=offered,
        )

    def _listing(self, key_id: str) -> list[StoredEntry]:
        return [stored for stored in self.entries() if stored.entry.id == key_id]

    # -- editing -----------------------------------------------------------------

    def trust(
        self,
        public: PublicKey,
        *,
        name: str,
        projects: list[str],
        not_before: date | None = None,
        not_after: date | None = None,
        project: bool = False,
        force: bool = False,
        today: date | None = None,
    ) -> TrustEntry:
        """Trust ``public`` to sign ``projects``, in the user store or (``project``) the project's.

        A key already listed there is updated: its name, patterns and dates replaced,
        its status active. A revoked key is refused, unless ``force`` is given and the
        revocation is in that store.

        Raises:
            TrustStoreError: for a revoked key, or patterns or dates that break the schema.
        """
        store: Store = "project" if project else "user"
        self._refuse_revoked(public.key_id, store, force=force)
        fields: dict[str, object | None] = {
            "id": public.key_id,
            "name": name,
            "public_key": public.to_text(),
            "projects": [canonicalize_name(pattern) for pattern in projects],
            "not_before": not_before,
            "not_after": not_after,
            "status": "active",
            "reason": None,
            "retired_on": None,
            "revoked_on": None,
        }
        return self._upsert(store, public.key_id, fields, added=today or date.today())

    def untrust(self, key_id: str, *, project: bool = False, force: bool = False) -> TrustEntry:
        """Remove a key's entry from one store; a revoked entry only with ``force``.

        Raises:
            TrustStoreError: if that store does not list the key, or lists it revoked.
        """
        store: Store = "project" if project else "user"
        entry = self._entry_in(store, key_id)
        if entry.status == "revoked" and not force:
            raise self._problem(
                store,
                f"key {entry.short_id} is revoked here; removing it would forget the revocation",
                hint="to forget it all the same, add --force",
            )
        from pluginctl.signing import _toml_edit

        self._edit(store, lambda tables: _toml_edit.remove_table(tables, entry.id))
        return entry

    def revoke(
        self,
        key_id: str,
        *,
        reason: str = "",
        project: bool = False,
        public: PublicKey | None = None,
        today: date | None = None,
    ) -> TrustEntry:
        """Revoke a key in one store: the entry stays, as ``revoked`` with the reason and date.

        A key the store does not list is added to it as revoked (for every project);
        its public key then comes from the other store, or from ``public``.

        Raises:
            SigningKeyError: if neither store lists the key and ``public`` is not given.
        """
        store: Store = "project" if project else "user"
        key_id = key_id.lower()
        public = public or self.public_key(key_id)
        if public is None or public.key_id != key_id:
            raise SigningKeyError(
                f"key {key_id[:16]} is in neither trust store, so its public key is unknown",
                hint="give the key itself: pluginctl keys revoke FILE (or ed25519:...)",
            )
        known = self._listing(key_id)
        fields: dict[str, object | None] = {
            "id": key_id,
            "name": known[0].entry.name if known else f"key {public.short_id}",
            "public_key": public.to_text(),
            "projects": known[0].entry.projects if known else ["*"],
            "status": "revoked",
            "reason": reason or None,
            "revoked_on": today or date.today(),
        }
        return self._upsert(store, key_id, fields, added=None)

    def retire(self, key_id: str, *, today: date | None = None) -> list[StoredEntry]:
        """Mark a key retired in each store that lists it as active; returns the changed entries."""
        fields: dict[str, object | None] = {
            "status": "retired",
            "retired_on": today or date.today(),
        }
        return [
            StoredEntry(
                self._upsert(stored.store, stored.entry.id, fields), stored.store, stored.path
            )
            for stored in self._listing(key_id.lower())
            if stored.entry.status == "active"
        ]

    def _refuse_revoked(self, key_id: str, store: Store, *, force: bool) -> None:
        for stored in self._listing(key_id):
            if stored.entry.status != "revoked" or (force and stored.store == store):
                continue
            flag = " --project" if stored.store == "project" else ""
            raise self._problem(
                stored.store,
                f"key {stored.entry.short_id} was revoked on {stored.entry.revoked_on or '?'}"
                f"{_because(stored.entry)}; a revocation in either store wins",
                hint="if the revocation was a mistake, add --force"
                if stored.store == store
                else f"if it was a mistake, remove it there first: pluginctl keys untrust"
                f" {stored.entry.short_id}{flag} --force",
            )

    def _entry_in(self, store: Store, key_id: str) -> TrustEntry:
        for entry in self._entries[store]:
            if entry.id == key_id.lower():
                return entry
        other = "drop --project for yours" if store == "project" else "add --project for it"
        raise self._problem(
            store,
            f"key {key_id[:16]} is not listed here",
            hint=f"pluginctl keys list shows which store lists each key ({other})",
        )

    def _problem(self, store: Store, message: str, *, hint: str) -> TrustStoreError:
        return TrustStoreError([Problem(str(self._paths[store]), "", message, hint=hint)])

    def _upsert(
        self,
        store: Store,
        key_id: str,
        fields: dict[str, object | None],
        *,
        added: date | None = None,
    ) -> TrustEntry:
        from pluginctl.signing import _toml_edit

        entries = self._edit(
            store, lambda tables: _toml_edit.upsert_table(tables, key_id, fields, added=added)
        )
        return next(entry for entry in entries if entry.id == key_id)

    def _edit(self, store: Store, change: Callable[[AoT], None]) -> list[TrustEntry]:
        """Apply ``change`` to the store's file, check the result, then write it whole."""
        import tomlkit

        from pluginctl.signing import _toml_edit

        path = self._paths[store]
        document = _toml_edit.read_document(path, purpose=_PURPOSE[store])
        change(_toml_edit.key_tables(document))
        text = tomlkit.dumps(document)
        entries = parse_trust_text(text, source=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        write_atomically(path, text.encode("utf-8"), mode=mode)
        self._entries[store] = entries
        return entries


_PURPOSE: dict[Store, str] = {
    "project": "This project's trust store: commit it with the code.",
    "user": "Your own trust store, for every project on this machine.",
}


def _because(entry: TrustEntry) -> str:
    return f" ({entry.reason})" if entry.reason else ""
