"""The admin token, sessions, CSRF tokens, frame keys and the login throttle."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import UserError
from pluginctl.web.admin.auth import (
    FAILURE_WINDOW_S,
    MAX_FAILURES,
    SESSION_S,
    TOKEN_ENV,
    LoginThrottle,
    Sessions,
    load_admin_token,
)

if TYPE_CHECKING:
    from pathlib import Path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_start_writes_a_private_token_and_later_starts_read_it(tmp_path: Path) -> None:
    first = load_admin_token(tmp_path, environ={})
    assert first.created
    path = tmp_path / "admin-token"
    assert first.source == str(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_admin_token(tmp_path, environ={})
    assert not again.created
    assert again.value == first.value
    assert again.matches(first.value)
    assert not again.matches(first.value + "x")
    assert first.value not in repr(first)


def test_the_environment_sets_the_token_and_writes_nothing(tmp_path: Path) -> None:
    token = load_admin_token(tmp_path, environ={TOKEN_ENV: "  a-long-enough-token-value  "})
    assert (token.value, token.source, token.created) == (
        "a-long-enough-token-value",
        TOKEN_ENV,
        False,
    )
    assert not (tmp_path / "admin-token").exists()


def test_a_short_configured_token_is_refused_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="at least 16") as caught:
        load_admin_token(tmp_path, environ={TOKEN_ENV: "secret"})
    assert "token_urlsafe" in str(caught.value.hint)


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    load_admin_token(tmp_path, environ={})
    path = tmp_path / "admin-token"
    path.chmod(0o644)
    with pytest.raises(UserError, match="others can read it") as caught:
        load_admin_token(tmp_path, environ={})
    assert caught.value.hint == f"chmod 600 {path}"


def test_an_empty_or_odd_token_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    path.write_text("short\n")
    path.chmod(0o600)
    with pytest.raises(UserError, match="no usable admin token"):
        load_admin_token(tmp_path, environ={})
    path.unlink()
    path.mkdir()
    with pytest.raises(UserError, match="not a regular file"):
        load_admin_token(tmp_path, environ={})


def test_a_session_ends_when_it_expires_or_is_closed() -> None:
    clock = Clock()
    sessions = Sessions(clock=clock)
    session = sessions.open()
    assert sessions.get(session.id) is session
    assert sessions.get("") is None
    assert sessions.get("nope") is None
    clock.now += SESSION_S + 1
    assert sessions.get(session.id) is None
    other = sessions.open()
    sessions.close(other)
    assert sessions.get(other.id) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    sessions = Sessions()
    one, two = sessions.open(), sessions.open()
    assert sessions.csrf_ok(one, one.csrf)
    assert not sessions.csrf_ok(one, two.csrf)
    assert not sessions.csrf_ok(one, None)
    assert not sessions.csrf_ok(one, "")


def test_a_frame_key_opens_one_panel_while_its_session_lasts() -> None:
    clock = Clock()
    sessions = Sessions(clock=clock)
    session = sessions.open()
    key = sessions.frame_key(session, "notes", "main")
    assert sessions.frame_key(session, "notes", "main") == key
    assert sessions.frame_key(session, "notes", "other") != key
    assert sessions.frame(key) == ("notes", "main")
    assert sessions.frame("made-up") is None
    sessions.close(session)
    assert sessions.frame(key) is None
    later = sessions.open()
    late_key = sessions.frame_key(later, "notes", "main")
    clock.now += SESSION_S + 1
    assert sessions.frame(late_key) is None


def test_the_oldest_session_makes_room_past_the_cap() -> None:
    sessions = Sessions()
    first = sessions.open()
    for _ in range(1000):
        sessions.open()
    assert sessions.get(first.id) is None


def test_failed_logins_make_a_client_wait_then_let_it_try_again() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(MAX_FAILURES - 1):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == pytest.approx(FAILURE_WINDOW_S)
    assert throttle.retry_after("10.0.0.2") == 0  # others are not held up
    clock.now += FAILURE_WINDOW_S
    assert throttle.retry_after("10.0.0.1") == 0


def test_the_token_file_is_written_into_a_data_directory_not_made_yet(tmp_path: Path) -> None:
    token = load_admin_token(tmp_path / "new" / "data", environ={})
    assert token.created
    assert (tmp_path / "new" / "data" / "admin-token").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="planting a file as another user needs root")
def test_a_token_file_another_user_planted_is_refused(tmp_path: Path) -> None:
    """A shared data directory: another user writes a token they know, private to them."""
    path = tmp_path / "admin-token"
    path.write_text("a-token-another-user-knows\n")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(UserError, match="belongs to another user") as caught:
        load_admin_token(tmp_path, environ={})
    assert "remove it" in str(caught.value.hint)


def test_a_symlink_at_the_token_file_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("a-token-from-somewhere-else\n")
    elsewhere.chmod(0o600)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "admin-token").symlink_to(elsewhere)
    with pytest.raises(UserError, match="not a regular file"):
        load_admin_token(tmp_path / "data", environ={})
