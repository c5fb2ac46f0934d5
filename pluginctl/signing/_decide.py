"""The rules that turn a key's trust entries into a verdict for one project on one day."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pluginctl.signing.trust import StoredEntry, TrustDecision

if TYPE_CHECKING:
    from datetime import date

    from pluginctl.signing.keys import PublicKey
    from pluginctl.signing.trust import TrustEntry

__all__ = ["decide"]


def decide(
    listing: list[StoredEntry],
    key_id: str,
    project: str,
    *,
    today: date,
    offered: PublicKey | None,
) -> TrustDecision:
    """The verdict for ``key_id`` signing ``project``, from every entry that lists the key.

    A revocation in any store wins; then the project must match a pattern; then
    ``today`` must be within an admitting entry's dates. Retired entries admit, with a note.
    """
    if not listing:
        return _untrusted(key_id, project, offered)
    public = listing[0].entry.public
    revoked = [stored for stored in listing if stored.entry.status == "revoked"]
    if revoked:
        return _revoked(revoked[0].entry, public)
    admitting = sorted(
        (stored for stored in listing if stored.entry.admits(project)),
        key=lambda stored: stored.entry.status != "active",
    )
    if not admitting:
        patterns = list(dict.fromkeys(p for stored in listing for p in stored.entry.projects))
        return _out_of_scope(listing[0], patterns, project, public)
    for stored in admitting:
        if _in_date(stored.entry, today):
            return TrustDecision(
                True, key_id, entry=stored.entry, public_key=public, note=_note(stored.entry)
            )
    return _out_of_date(admitting[0], today, public)


def _in_date(entry: TrustEntry, today: date) -> bool:
    if entry.not_before is not None and today < entry.not_before:
        return False
    return entry.not_after is None or today <= entry.not_after


def _untrusted(key_id: str, project: str, offered: PublicKey | None) -> TrustDecision:
    scope = shlex.quote(canonicalize_name(project))
    if offered is not None and offered.key_id == key_id:
        hint = (
            "if you trust its publisher: pluginctl keys trust"
            f" {offered.to_text()} --scope {scope} --name NAME"
        )
    else:
        hint = (
            f"get the publisher's public key (id {key_id[:16]}) and run:"
            f" pluginctl keys trust KEYFILE --scope {scope}"
        )
    return TrustDecision(False, key_id, reason=f"untrusted key {key_id[:16]}", hint=hint)


def _revoked(entry: TrustEntry, public: PublicKey) -> TrustDecision:
    when = f" on {entry.revoked_on}" if entry.revoked_on else ""
    because = f" ({entry.reason})" if entry.reason else ""
    return TrustDecision(
        False,
        entry.id,
        reason=f"key {entry.short_id} was revoked{when}{because}",
        hint="a revoked key is refused everywhere: ask the publisher for a release"
        " signed with their new key",
        entry=entry,
        public_key=public,
    )


def _out_of_scope(
    stored: StoredEntry, patterns: list[str], project: str, public: PublicKey
) -> TrustDecision:
    entry = stored.entry
    command = _trust_command(stored, [*entry.projects, canonicalize_name(project)])
    allowed = ", ".join(patterns)
    return TrustDecision(
        False,
        entry.id,
        reason=f"key {entry.short_id} may sign only {allowed}, not {project!r}",
        hint=f"if it may sign it too: {command}",
        entry=entry,
        public_key=public,
    )


def _out_of_date(stored: StoredEntry, today: date, public: PublicKey) -> TrustDecision:
    entry = stored.entry
    if entry.not_before is not None and today < entry.not_before:
        reason = f"key {entry.short_id} is not valid before {entry.not_before}"
        hint = f"check this machine's clock (today is {today}), or wait until then"
    else:
        reason = f"key {entry.short_id} expired on {entry.not_after}"
        extend = _trust_command(stored, entry.projects) + " --not-after YYYY-MM-DD"
        hint = f"ask the publisher for a release signed with a current key, or extend it: {extend}"
    return TrustDecision(False, entry.id, reason=reason, hint=hint, entry=entry, public_key=public)


def _trust_command(stored: StoredEntry, scopes: list[str]) -> str:
    flags = " ".join(f"--scope {shlex.quote(scope)}" for scope in scopes)
    where = " --project" if stored.store == "project" else ""
    return f"pluginctl keys trust {stored.entry.short_id} {flags}{where}"


def _note(entry: TrustEntry) -> str:
    if entry.status != "retired":
        return ""
    when = f" on {entry.retired_on}" if entry.retired_on else ""
    return (
        f"key {entry.short_id} was retired{when}: it verifies what it signed but no longer"
        " signs (its successor comes from pluginctl keys rotate)"
    )
