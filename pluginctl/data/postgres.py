"""A plugin's PostgreSQL database: its own schema, and roles that reach only that schema.

For each plugin the host creates, in the database the operator names:

- a schema ``plugin_<name>`` owned by the plugin's role;
- the role ``pluginctl_<db>_<name>`` (``<db>`` a short hash of the database name, since
  roles belong to the whole server): it owns the schema, runs the plugin's migrations
  and its statements when it holds ``db:write``;
- the role ``..._r``, which may only read the schema's tables: a plugin holding
  ``db:read`` only logs in as that one, so no statement of its can write.

``PUBLIC`` has no rights on the schema, so no other plugin's role can read or write it.
The roles' passwords are derived from the operator's URL (an HMAC of the role name),
so every host using the same URL logs in the same way and none resets another's.

Provisioning is idempotent and serialised by an advisory lock, so hosts starting at the
same moment do not trip over each other.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine
    from sqlalchemy.exc import DBAPIError

__all__ = ["TEST_MARK", "PluginSchema", "admin_url", "drop_schema", "empty_for_tests", "provision"]

#: The comment on a schema that tests may empty: one ``empty_for_tests`` made.
TEST_MARK = "pluginctl test: emptied before each test"

_MAX_IDENTIFIER = 63
_PROVISION_LOCK = 0x706C7567  # "plug": the advisory lock serialising provisioning
_INSUFFICIENT_PRIVILEGE = "42501"
_POSTGRES_HINT = "give a URL such as postgresql://user:password@127.0.0.1:5432/app"


@dataclass(frozen=True, slots=True)
class PluginSchema:
    """The names one plugin's data has on a PostgreSQL server.

    Example:
        >>> names = PluginSchema.of("notes", database="app")
        >>> names.schema, names.owner.startswith("pluginctl_"), names.reader == names.owner + "_r"
        ('plugin_notes', True, True)
    """

    plugin: str
    schema: str
    owner: str
    reader: str

    @classmethod
    def of(cls, plugin: str, *, database: str) -> PluginSchema:
        """The names of ``plugin``'s schema and roles in ``database``."""
        stem = plugin.replace("-", "_")
        database_tag = hashlib.sha256(database.encode()).hexdigest()[:6]
        owner = _fit(f"pluginctl_{database_tag}_{stem}", room=2)
        return cls(plugin, _fit(f"plugin_{stem}", room=0), owner, owner + "_r")

    def password(self, role: str, *, secret: str) -> str:
        """The password of ``role``, derived from the operator's ``secret``."""
        return hmac.new(secret.encode(), role.encode(), hashlib.sha256).hexdigest()


def _fit(name: str, *, room: int) -> str:
    """``name`` cut to fit PostgreSQL's 63-byte identifiers, ``room`` bytes kept free."""
    limit = _MAX_IDENTIFIER - room
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}_{digest}"


def admin_url(text: str) -> URL:
    """The operator's database URL, checked and set to use psycopg.

    Raises:
        UserError: it is not a PostgreSQL URL, names no database, or psycopg is missing.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except ArgumentError:
        raise UserError(
            f"the database URL {_redacted(text)!r} is not a URL", hint=_POSTGRES_HINT
        ) from None
    if url.get_backend_name() != "postgresql":
        raise UserError(
            f"the database URL names {url.get_backend_name()!r}; pluginctl stores plugin data in"
            " SQLite files (the default) or PostgreSQL",
            hint=_POSTGRES_HINT + ", or leave --database-url out for SQLite",
        )
    if not url.database:
        raise UserError(
            f"the database URL {url.render_as_string()!r} names no database", hint=_POSTGRES_HINT
        )
    try:
        import psycopg  # noqa: F401  # only to say early that it is missing
    except ImportError:
        raise UserError(
            "PostgreSQL needs the psycopg driver, which is not installed",
            hint="pip install 'pluginctl[postgres]'",
        ) from None
    return url.set(drivername="postgresql+psycopg")


def _redacted(text: str) -> str:
    head, at, tail = text.rpartition("@")
    return f"{head.split(':', 2)[0]}:***@{tail}" if at and ":" in head else text


def provision(admin: Engine, names: PluginSchema, *, secret: str) -> None:
    """Create (or bring up to date) ``names``' schema and roles through ``admin``.

    Raises:
        UserError: the URL's user may not create roles or schemas.
    """
    from sqlalchemy.exc import DBAPIError

    try:
        with admin.begin() as connection:
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")  # never wait forever
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PROVISION_LOCK})")
            _provision(connection, names, secret=secret)
    except DBAPIError as exc:
        raise UserError(
            f"cannot set up the schema of plugin {names.plugin!r} as"
            f" {admin.url.username!r}: {str(exc.orig).strip()}",
            hint=_hint_for(exc),
        ) from None


def drop_schema(admin: Engine, names: PluginSchema) -> None:
    """Drop ``names``' schema through ``admin``, with every table in it.

    The plugin's migrations keep their version table in that schema, so the plugin's
    next activation finds nothing applied and migrates from the start. The roles stay:
    the next `provision` creates the schema again for them.

    Raises:
        UserError: the URL's user may not drop the schema.
    """
    from sqlalchemy.exc import DBAPIError

    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PROVISION_LOCK})")
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_quote(names.schema)} CASCADE")
    except DBAPIError as exc:
        refused = getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE
        raise UserError(
            f"cannot drop the schema of plugin {names.plugin!r} as"
            f" {admin.url.username!r}: {str(exc.orig).strip()}",
            hint="the database URL's user must own the plugin's schema or be a superuser"
            if refused
            else "check that the database server runs and that the URL is right",
        ) from None


def empty_for_tests(admin: Engine, names: PluginSchema, *, secret: str) -> None:
    """Give a test an empty schema: drop ``names``' schema and make it again, marked.

    Only a schema this function made (its comment is `TEST_MARK`) is dropped: a
    plugin's schema holding data put there otherwise — by ``pluginctl run`` on a real
    database — is refused, so a test pointed at the wrong database loses nothing.

    Raises:
        UserError: the schema holds data tests did not make, or the user may not drop it.
    """
    from sqlalchemy.exc import DBAPIError

    try:
        with admin.begin() as connection:
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PROVISION_LOCK})")
            found = connection.exec_driver_sql(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace"
                " WHERE nspname = %(schema)s",
                {"schema": names.schema},
            ).first()
            if found is not None and found[0] != TEST_MARK:
                raise UserError(
                    f"the database {admin.url.database!r} already holds plugin"
                    f" {names.plugin!r}'s data (schema {names.schema}), which no test made;"
                    " tests empty the plugin's schema before each one, so pluginctl leaves it"
                    " alone",
                    hint="point --database-url at a database kept for tests (createdb app_test)",
                )
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_quote(names.schema)} CASCADE")
            _provision(connection, names, secret=secret)
            connection.exec_driver_sql(f"COMMENT ON SCHEMA {_quote(names.schema)} IS '{TEST_MARK}'")
    except DBAPIError as exc:
        raise UserError(
            f"cannot empty the schema of plugin {names.plugin!r} for a test as"
            f" {admin.url.username!r}: {str(exc.orig).strip()}",
            hint=_hint_for(exc),
        ) from None


def _hint_for(exc: DBAPIError) -> str:
    """What to do about a failure to set a plugin's schema up: rights, or reaching the server."""
    if getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
        return (
            "the database URL's user must be able to create roles and schemas"
            " (a superuser, or CREATEROLE with CREATE on the database)"
        )
    return "check that the database server runs and that the URL is right"


def _provision(connection: Connection, names: PluginSchema, *, secret: str) -> None:
    schema, owner, reader = (_quote(name) for name in (names.schema, names.owner, names.reader))
    for role, extra in (
        (names.owner, ""),
        (names.reader, " SET default_transaction_read_only = on"),
    ):
        exists = connection.exec_driver_sql(
            "SELECT 1 FROM pg_roles WHERE rolname = %(role)s", {"role": role}
        ).first()
        verb = "ALTER" if exists else "CREATE"
        password = names.password(role, secret=secret)
        connection.exec_driver_sql(
            f"{verb} ROLE {_quote(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
            f" NOINHERIT NOREPLICATION NOBYPASSRLS PASSWORD '{password}'"
        )
        if extra:
            connection.exec_driver_sql(f"ALTER ROLE {_quote(role)}{extra}")
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}")
    connection.exec_driver_sql(f"ALTER SCHEMA {schema} OWNER TO {owner}")
    connection.exec_driver_sql(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {reader}")
    connection.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reader}")
    connection.exec_driver_sql(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}"
        f" GRANT SELECT ON TABLES TO {reader}"
    )
    for role in (owner, reader):
        connection.exec_driver_sql(f"ALTER ROLE {role} SET search_path = {schema}")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
