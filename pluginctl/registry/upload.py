"""Publishing to an existing index over HTTP, with twine's upload machinery.

`publish_remote` takes the repository and its credentials as twine does
(``--repository-url``, or a repository named in ``~/.pypirc``; the username and
password from the arguments, ``TWINE_USERNAME``/``TWINE_PASSWORD``, ``.pypirc`` or
the keyring) and the form each file is sent with from twine's `PackageFile`. It
never prints: the progress of each upload goes to ``on_progress``.

Before anything is sent, every file passes the pre-flight: valid metadata, a plugin
wheel that verifies (`pluginctl.registry.preflight`), and a file name the index does
not list yet (`pluginctl.registry.listing`). A signed plugin wheel's ``.sig`` is kept
in a `SignatureSource`, keyed by the wheel's sha256, once the index has the wheel.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.errors import PublishError
from pluginctl.registry.listing import listed_files, simple_urls
from pluginctl.registry.preflight import check_distribution, find_distributions
from pluginctl.registry.signatures import SignatureSource

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import requests
    from twine.auth import Resolver
    from twine.repository import Repository
    from twine.settings import Settings

    from pluginctl.registry.preflight import Distribution
    from pluginctl.signing.trust import TrustStore

__all__ = ["Progress", "Published", "publish_remote"]

USERNAME_ENV = "TWINE_USERNAME"
PASSWORD_ENV = "TWINE_PASSWORD"  # noqa: S105  # the name of a variable, not a password
TOKEN_USERNAME = "__token__"  # noqa: S105  # the username an API token goes with


@dataclass(frozen=True, slots=True)
class Progress:
    """How far one upload is: bytes of the request body sent so far, of the total."""

    filename: str
    sent_bytes: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class Published:
    """One file the index accepted.

    Attributes:
        distribution: The file and what the pre-flight read from it.
        repository_url: Where it was uploaded (credentials removed).
        signature: Where its ``.sig`` was kept, for a signed plugin wheel.
    """

    distribution: Distribution
    repository_url: str
    signature: str | None = None


def publish_remote(
    files: Sequence[Path],
    *,
    trust: TrustStore,
    repository_url: str | None = None,
    repository: str | None = None,
    index_url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    config_file: Path | None = None,
    signatures: SignatureSource | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    prompt: Callable[[str, bool], str] | None = None,
    timeout_s: float = 300.0,
) -> list[Published]:
    """Check every file, then upload each to the index, in order.

    Args:
        files: Wheels and sdists, or directories holding them (``dist/``).
        trust: The trust store plugin wheels must verify against.
        repository_url: The upload URL (twine's ``--repository-url``).
        repository: A repository named in ``.pypirc`` (twine's ``-r``); ``pypi`` when
            neither is given.
        index_url: The index's simple API, when it cannot be derived from the upload URL.
        username: The username (else ``$TWINE_USERNAME``, ``.pypirc``, the keyring).
        password: The password (else ``$TWINE_PASSWORD``, ``.pypirc``, the keyring).
        token: An API token: the password, with the username ``__token__``.
        config_file: The ``.pypirc`` to read (default ``~/.pypirc``).
        signatures: Where to keep the plugin wheels' signatures (default: the user's
            `SignatureSource.default`).
        on_progress: Called as each upload's body is sent.
        prompt: Asks for a credential nothing else gave, as ``prompt(what, secret)``;
            without it a missing credential is an error.
        timeout_s: The longest wait for the index to answer one request.

    Returns:
        What was published, in order.

    Raises:
        PublishError: a file failed the pre-flight (nothing was sent), the repository
            or its credentials cannot be found, or the index refused an upload.
    """
    checked = [check_distribution(path, trust=trust) for path in find_distributions(files)]
    if token is not None:
        username, password = TOKEN_USERNAME, token
    username = username if username is not None else os.environ.get(USERNAME_ENV)
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    carries: bool | None = None  # whether the index keeps signatures: asked below if unknown
    if repository_url is not None and username and password and repository is None:
        direct = _to_pluginctl_registry(
            checked, repository_url, (username, password), on_progress, timeout_s
        )
        if direct is not None:
            return direct
        carries = False  # it was asked, and is not a pluginctl registry
        target = _direct(repository_url, username, password)  # nothing to look up
    else:
        settings = _settings(
            repository_url=repository_url,
            repository=repository,
            username=username,
            password=password,
            config_file=config_file,
            prompt=prompt,
        )
        target = _open(settings)
    try:
        _check_new(target, checked, simple_urls(target.url, index_url=index_url), timeout_s)
        source = signatures or SignatureSource.default()
        if carries is None:
            carries = _carries_signatures(target, timeout_s)
        done: list[Published] = []
        for dist in checked:
            try:
                done.append(
                    _publish_one(
                        target,
                        dist,
                        source,
                        carries_signatures=carries,
                        on_progress=on_progress,
                        timeout_s=timeout_s,
                    )
                )
            except PublishError as exc:
                raise _after(exc, done) from None
        return done
    finally:
        target.close()


def _after(exc: PublishError, done: list[Published]) -> PublishError:
    if not done:
        return exc
    names = ", ".join(p.distribution.filename for p in done)
    return PublishError(f"{exc.message} (published before it: {names})", hint=exc.hint)


def _settings(
    *,
    repository_url: str | None,
    repository: str | None,
    username: str | None,
    password: str | None,
    config_file: Path | None,
    prompt: Callable[[str, bool], str] | None,
) -> Settings:
    from twine.exceptions import TwineException
    from twine.settings import Settings
    from twine.utils import DEFAULT_CONFIG_FILE

    try:
        settings = Settings(
            repository_url=repository_url,
            repository_name=repository or "pypi",
            username=username,
            password=password,
            config_file=str(config_file) if config_file else DEFAULT_CONFIG_FILE,
            non_interactive=True,
            disable_progress_bar=True,
        )
    except (TwineException, OSError) as exc:
        raise PublishError(
            f"cannot find the repository to publish to: {exc}".strip(),
            hint="give --repository-url URL, or --to NAME for a [NAME] section in ~/.pypirc",
        ) from None
    if prompt is not None:
        settings.auth = _asking_resolver(settings, username, password, prompt)
    return settings


def _asking_resolver(
    settings: Settings,
    username: str | None,
    password: str | None,
    prompt: Callable[[str, bool], str],
) -> Resolver:
    from twine import auth

    class Asking(auth.Resolver):
        def prompt(self, what: str, how: Callable[..., str] | None = None) -> str:
            return prompt(what, what != "username")

    return Asking(settings.repository_config, auth.CredentialInput(username, password))


def _to_pluginctl_registry(
    checked: list[Distribution],
    url: str,
    auth: tuple[str, str],
    on_progress: Callable[[Progress], None] | None,
    timeout_s: float,
) -> list[Published] | None:
    """Publish straight to a pluginctl registry; None if ``url`` is not one."""
    import httpx

    from pluginctl.registry import registry_upload

    plain = url.startswith("http://")  # no TLS: skip loading the CA bundle (a tenth of a second)
    with httpx.Client(auth=auth, timeout=timeout_s, trust_env=False, verify=not plain) as client:
        if not registry_upload.is_pluginctl_registry(client, url):
            return None
        for project in sorted({dist.project for dist in checked}):
            there = registry_upload.listed(client, url, project)
            for dist in (d for d in checked if d.project == project and d.filename in there):
                raise _exists(dist, url)
        done: list[Published] = []
        for dist in checked:
            try:
                registry_upload.publish_to_registry(client, url, dist, on_progress=on_progress)
            except PublishError as exc:
                raise _after(exc, done) from None
            done.append(Published(dist, url.rsplit("@", maxsplit=1)[-1]))
        return done


def _direct(url: str, username: str, password: str) -> Repository:
    """Twine's repository session for a URL and credentials given outright.

    ``.pypirc`` and the keyring have nothing to add then, so they are not read (the
    keyring alone takes a tenth of a second to import).
    """
    from twine.repository import Repository

    return Repository(url, username, password, disable_progress_bar=True)


def _open(settings: Settings) -> Repository:
    """Twine's repository session, with the credentials it resolved."""
    from twine.exceptions import TwineException
    from twine.utils import sanitize_url

    url = str(settings.repository_config["repository"])
    try:
        return settings.create_repository()
    except TwineException as exc:
        raise PublishError(
            f"no credentials for {sanitize_url(url)}: {exc}",
            hint=f"pass --username and --password (or a token), set {USERNAME_ENV} and"
            f" {PASSWORD_ENV}, or put them in ~/.pypirc or your keyring",
        ) from None


def _check_new(
    target: Repository, checked: list[Distribution], roots: list[str], timeout_s: float
) -> None:
    """Refuse, before any upload, a file the index already lists."""
    listed: dict[str, set[str]] = {}
    for dist in checked:
        if dist.project not in listed:
            listed[dist.project] = listed_files(
                target.session, roots, dist.project, timeout_s=timeout_s
            )
        if dist.filename in listed[dist.project]:
            raise _exists(dist, roots[0])


def _exists(dist: Distribution, where: str) -> PublishError:
    from twine.utils import sanitize_url

    return PublishError(
        f"{dist.filename}: {dist.project} {dist.version} is already on {sanitize_url(where)};"
        " a published file is never replaced",
        hint="bump the version in plugin.toml and pyproject.toml, rebuild, sign and publish",
    )


def _carries_signatures(target: Repository, timeout_s: float) -> bool:
    """Whether the index is a pluginctl registry, which keeps each wheel's ``.sig`` itself.

    It answers ``GET /api/keys`` with its trusted keys; other indexes do not.
    """
    import requests

    root = target.url.split("/legacy/")[0].rstrip("/")
    try:
        response = target.session.get(f"{root}/api/keys", timeout=timeout_s, allow_redirects=False)
    except requests.RequestException:
        return False
    return response.status_code == 200 and "json" in response.headers.get("content-type", "")


def _publish_one(
    target: Repository,
    dist: Distribution,
    source: SignatureSource,
    *,
    carries_signatures: bool,
    on_progress: Callable[[Progress], None] | None,
    timeout_s: float,
) -> Published:
    """Upload ``dist``; its signature goes with it to a pluginctl registry, else to ``source``."""
    from twine.utils import sanitize_url

    sends = dist.signature if carries_signatures else None
    response = _send(target, dist, sends, on_progress=on_progress, timeout_s=timeout_s)
    _check_response(response, dist, target.url)
    kept = None
    if dist.signature is not None and not carries_signatures:
        kept = str(source.put(dist.sha256, dist.signature))
    return Published(dist, sanitize_url(target.url), kept)


def _send(
    target: Repository,
    dist: Distribution,
    signature: bytes | None,
    *,
    on_progress: Callable[[Progress], None] | None,
    timeout_s: float,
) -> requests.Response:
    """POST the file with twine's form, reporting progress, following no redirect."""
    import requests
    from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
    from twine.package import PackageFile

    package = PackageFile.from_filename(str(dist.path), None)
    if package.sha2_digest != dist.sha256:
        raise PublishError(
            f"{dist.filename} changed while it was being published", hint="publish it again"
        )
    # twine's own form fields, as twine upload sends them
    fields = target._convert_metadata_to_list_of_tuples(package.metadata_dictionary())
    fields += [(":action", "file_upload"), ("protocol_version", "1")]
    if signature is not None:  # a pluginctl registry keeps it beside the wheel
        fields.append(("signature", (dist.filename + ".sig", signature, "application/json")))
    with dist.path.open("rb") as file:
        fields.append(("content", (dist.filename, file, "application/octet-stream")))
        encoder = MultipartEncoder(fields)

        def report(monitor: MultipartEncoderMonitor) -> None:
            if on_progress is not None:
                on_progress(Progress(dist.filename, monitor.bytes_read, encoder.len))

        monitor = MultipartEncoderMonitor(encoder, report)
        try:
            return target.session.post(
                target.url,
                data=monitor,
                allow_redirects=False,
                headers={"Content-Type": monitor.content_type},
                timeout=timeout_s,
            )
        except requests.RequestException as exc:
            raise PublishError(
                f"{dist.filename}: the upload to {_shown(target.url)} failed: {type(exc).__name__}",
                hint="check the URL and that the index is up, then retry",
            ) from None


def _check_response(response: requests.Response, dist: Distribution, url: str) -> None:
    status, reason = response.status_code, response.reason or ""
    text = _plain(response.text)
    response.close()
    if 200 <= status < 300:
        return
    where = _shown(url)
    if response.is_redirect:
        raise PublishError(
            f"{dist.filename}: {where} redirected the upload to"
            f" {_shown(response.headers.get('location', '?'))}; uploads are never redirected",
            hint="give the index's real upload URL as --repository-url",
        )
    if status in (401, 403):
        raise PublishError(
            f"{dist.filename}: {where} refused the credentials (HTTP {status} {reason})",
            hint=f"check the username and password (or token): --username/--password,"
            f" {USERNAME_ENV}/{PASSWORD_ENV}, ~/.pypirc or your keyring",
        )
    if status in (400, 409) and "already exist" in f"{reason} {text}".lower():
        raise _exists(dist, where)
    raise PublishError(
        f"{dist.filename}: {where} refused the upload (HTTP {status} {reason}): {text}",
        hint="fix what the index says, then publish again",
    )


def _plain(body: str, *, most: int = 300) -> str:
    """An error page as one line of text: tags, styles and runs of spaces removed.

    Example:
        >>> _plain("<html><style>h1 {}</style><h1>Error</h1> <p>File  exists</p></html>")
        'Error File exists'
    """
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", body[:100_000], flags=re.S | re.I)
    text = " ".join(html.unescape(re.sub(r"<[^>]*>", " ", text)).split())
    return text if len(text) <= most else text[: most - 3] + "..."


def _shown(url: str) -> str:
    from twine.utils import sanitize_url

    return sanitize_url(url)
