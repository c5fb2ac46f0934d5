"""The upload endpoint twine speaks: PyPI's legacy API, ``POST /`` or ``/legacy/``.

A request carries HTTP basic auth (user ``__token__``, password a token from
`pluginctl.registry.tokens`) and a multipart form (`pluginctl.registry.upload_form`).
In order, the endpoint:

1. answers 503 when `UploadLimits.max_concurrent` uploads are already running;
2. checks the token (403 "invalid or revoked token") before reading the body;
3. refuses a body whose Content-Length is past the cap (413), then streams it into
   a fresh staging directory, counting bytes (413 past the cap) and waiting at
   most ``read_timeout_s`` for each chunk and ``upload_timeout_s`` in all (408);
4. checks the token may upload the file's project (403) before a byte is written;
5. checks the form: ``:action=file_upload``, one ``content`` file, ``name`` and
   ``version`` that agree with the file name, ``filetype``, and every digest sent
   (``sha256_digest``, ``md5_digest``, ``blake2_256_digest``) against the bytes;
6. commits through `RegistryStore.commit`, which checks the file itself (a zip
   that is a wheel, METADATA that agrees, a plugin wheel's signature) and refuses
   a name ever published: 400 "File already exists".

Every refusal is ``<status> <reason>`` in the status line, as PyPI sends it (see
`pluginctl.registry.reason_phrase`), the reason and a hint in a text body, and a
line in the registry's audit log; the staging directory is always removed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response

from pluginctl.errors import RegistryError
from pluginctl.registry.reason_phrase import REASON_HEADER, reason_phrase
from pluginctl.registry.tokens import TokenRefused, Tokens
from pluginctl.registry.upload_form import BadUpload, FormLimits, FormReader

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.requests import Request

    from pluginctl.registry.store import RegistryStore
    from pluginctl.registry.tokens import Token
    from pluginctl.registry.upload_form import UploadForm

__all__ = ["UploadEndpoint", "UploadLimits"]

log = logging.getLogger(__name__)
_FILETYPES = {".whl": "bdist_wheel", ".tar.gz": "sdist"}


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """The upload endpoint's limits.

    Attributes:
        max_upload_mb: The largest body accepted, in MiB (413 past it).
        max_concurrent: Uploads served at once; one more gets 503 with Retry-After.
        read_timeout_s: The longest wait for the next chunk of a body (408).
        upload_timeout_s: The longest one upload may take in all (408).
        form: The limits on the form's fields and parts.
    """

    max_upload_mb: float = 100
    max_concurrent: int = 8
    read_timeout_s: float = 30
    upload_timeout_s: float = 600
    form: FormLimits = field(default_factory=FormLimits)

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)


class UploadEndpoint:
    """The ASGI endpoint that receives uploads into ``store``."""

    def __init__(self, store: RegistryStore, *, limits: UploadLimits | None = None) -> None:
        self.store = store
        self.tokens = Tokens(store.index)
        self.limits = limits or UploadLimits()
        self._running = 0

    async def receive(self, request: Request) -> Response:
        """Receive one upload; 200 "OK" when it is published."""
        if self._running >= self.limits.max_concurrent:
            return _refusal(
                BadUpload(
                    f"{self._running} uploads are in progress, the most this registry takes",
                    status=503,
                    hint="try again in a few seconds",
                ),
                headers={"retry-after": "5"},
            )
        self._running += 1
        try:
            return await self._receive(request)
        finally:
            self._running -= 1

    async def _receive(self, request: Request) -> Response:
        token: Token | None = None
        with contextlib.ExitStack() as staging:
            try:
                token = await run_in_threadpool(self.tokens.check, _token_of(request))
                form = await self._read_form(request, token, staging)
                return await self._publish(request, form, token)
            except RegistryError as exc:
                staging.close()  # the staged file is gone before the answer
                return self._refuse(request, exc, token)
            except ClientDisconnect:
                staging.close()
                self.store.audit("upload.aborted", token=_id(token), remote=_remote(request))
                return Response(status_code=400)  # no one is left to read it

    async def _read_form(
        self, request: Request, token: Token, staging: contextlib.ExitStack
    ) -> UploadForm:
        boundary = _boundary(request)
        _check_length(request, self.limits.max_upload_bytes)
        reader = FormReader(
            boundary,
            directory=staging.enter_context(self.store.staging_directory()),
            on_filename=lambda name: _check_scope(token, name),
            limits=self.limits.form,
        )
        staging.callback(reader.close)
        await self._stream(request, reader)
        return reader.finish()

    async def _stream(self, request: Request, reader: FormReader) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.upload_timeout_s
        stream = request.stream().__aiter__()
        received = 0
        while True:
            wait_s = min(self.limits.read_timeout_s, deadline - loop.time())
            try:
                async with asyncio.timeout(max(wait_s, 0)):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise BadUpload(
                    "the upload was too slow: no data for too long, or past the time limit",
                    status=408,
                    hint="upload it again over a faster link",
                ) from None
            received += len(chunk)
            if received > self.limits.max_upload_bytes:
                raise _too_large(self.limits.max_upload_bytes)
            reader.feed(chunk)
        _check_received(request, received)

    async def _publish(self, request: Request, form: UploadForm, token: Token) -> Response:
        staged = _check_form(form)
        # the body may have taken minutes: a token revoked meanwhile publishes nothing
        project = _name_version(staged.name)[0]
        await run_in_threadpool(self.tokens.check, _token_of(request), project)
        if form.signature is not None:
            form.signature.replace(staged.with_name(staged.name + ".sig"))
        dist = await run_in_threadpool(
            self.store.commit,
            staged,
            uploader=f"token:{token.id}:{token.name}",
            expected_sha256=form.digests["sha256"],
        )
        self.store.audit(
            "upload", file=dist.filename, token=token.id, remote=_remote(request), size=dist.size
        )
        return PlainTextResponse("OK\n")

    def _refuse(self, request: Request, exc: RegistryError, token: Token | None) -> Response:
        denied = isinstance(exc, TokenRefused)
        self.store.audit(
            "upload.denied" if denied else "upload.refused",
            reason=exc.message,
            status=_status(exc),
            token=_id(token),
            remote=_remote(request),
        )
        return _refusal(exc)


# ---------------------------------------------------------------- the request


def _token_of(request: Request) -> str | None:
    """The password of HTTP basic auth with the user ``__token__``, or None."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == "__token__" else None


def _boundary(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadUpload(
            "an upload is a multipart/form-data form with a boundary",
            hint="upload with twine: twine upload --repository-url URL dist/*",
        )
    return boundary


def _check_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise BadUpload(f"Content-Length {declared!r} is not a number")
    if int(declared) > limit:
        raise _too_large(limit)


def _check_received(request: Request, received: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) != received:
        raise BadUpload(
            f"the body is {received} bytes, its Content-Length says {declared}: it was cut off",
            hint="upload it again",
        )


def _too_large(limit: int) -> BadUpload:
    return BadUpload(
        f"the upload is past this registry's limit of {limit // (1024 * 1024)} MiB",
        status=413,
        hint="raise it with pluginctl registry serve --max-upload-mb",
    )


def _check_scope(token: Token, filename: str) -> None:
    project = _name_version(filename)[0]
    if not token.may_upload(project):
        raise TokenRefused(
            f"token {token.name!r} may not upload to {project}",
            hint=f"create a token for it: pluginctl registry token create NAME --project {project}",
        )


def _name_version(filename: str) -> tuple[str, Version]:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return str(name), version
        if filename.endswith(".tar.gz"):
            name, version = parse_sdist_filename(filename)
            return str(name), version
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise BadUpload(f"{filename}: not a valid distribution file name ({exc})") from None
    raise BadUpload(
        f"{filename}: a registry takes wheels (.whl) and sdists (.tar.gz) only",
        hint="build them with pluginctl build",
    )


# ---------------------------------------------------------------- the form


def _check_form(form: UploadForm) -> Path:
    """The staged content, once the fields agree with it; else a refusal."""
    action = form.value(":action")
    if action != "file_upload":
        raise BadUpload(f"unsupported :action {action!r}: this endpoint takes file_upload")
    if form.content is None or form.filename is None:
        raise BadUpload("the form has no 'content' file part", hint="upload with twine")
    _check_names(form, form.filename)
    _check_digests(form)
    return form.content


def _check_names(form: UploadForm, filename: str) -> None:
    project, version = _name_version(filename)
    name, sent_version = form.value("name"), form.value("version")
    try:
        agrees = canonicalize_name(name or "") == project and Version(sent_version or "") == version
    except InvalidVersion:
        agrees = False
    if not agrees:
        raise BadUpload(
            f"{filename}: the form says {name!r} {sent_version!r}, the file name"
            f" {project} {version}",
            hint="upload the file with the metadata it was built with (twine does)",
        )
    expected = next(kind for suffix, kind in _FILETYPES.items() if filename.endswith(suffix))
    filetype = form.value("filetype")
    if filetype is not None and filetype != expected:
        raise BadUpload(f"{filename}: filetype {filetype!r}, but the file is a {expected}")
    _check_signature_name(form, filename)


def _check_signature_name(form: UploadForm, filename: str) -> None:
    if form.signature_name is not None and form.signature_name not in (
        filename + ".sig",
        filename + ".asc",
    ):
        raise BadUpload(
            f"the signature {form.signature_name!r} is not {filename}'s",
            hint=f"send {filename}.sig with it",
        )


def _check_digests(form: UploadForm) -> None:
    for name, digest in form.digests.items():
        sent = form.value(f"{name}_digest")
        if sent and sent.lower() != digest:
            raise BadUpload(
                f"{form.filename}: {name}_digest {sent!r} is not the {name} of the bytes"
                f" received ({digest}): the upload was damaged",
                hint="upload it again",
            )


# ---------------------------------------------------------------- the answer


def _refusal(exc: RegistryError, *, headers: dict[str, str] | None = None) -> Response:
    status = _status(exc)
    body = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "") + "\n"
    headers = {REASON_HEADER: reason_phrase(exc.message)} | (headers or {})
    return PlainTextResponse(body, status_code=status, headers=headers)


def _status(exc: RegistryError) -> int:
    if isinstance(exc, TokenRefused):
        return 403
    return exc.status if isinstance(exc, BadUpload) else 400


def _remote(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def _id(token: Token | None) -> str | None:
    return None if token is None else token.id
