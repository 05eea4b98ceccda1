"""Team mode on PostgreSQL: setting it up, its members, who is connected, and refusals.

Identity is the login role: the database writes ``current_user`` into every actor column
(migration 0005), so :func:`identity` is what the app and the CLI act as. Members are login
roles that belong to one of the group roles of :mod:`annotator.storage.team_sql`; passwords go
to the server once, as a parameter, and are never kept. On SQLite there is one user (the OS
login) and no roles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from annotator.core.errors import InputError, RefusedError, StorageError
from annotator.storage.team_sql import ROLES, RULE_PREFIX, init_statements

_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Member:
    name: str
    role: str  # the highest team role held
    can_login: bool


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def identity(conn: Connection) -> str:
    return str(conn.execute(sa.text("SELECT current_user")).scalar_one())


def _highest_role(who: str) -> str:
    """SQL: the highest team role the role named by the expression ``who`` holds, or NULL."""
    cases = " ".join(
        f"WHEN pg_has_role({who}, '{role}', 'MEMBER') THEN '{role}'" for role in reversed(ROLES)
    )
    return f"CASE {cases} END"


def team_role(conn: Connection, name: str | None = None) -> str | None:
    """The highest team role of ``name`` (default: the connected user); None without one."""
    if not conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = 'annotator'")).first():
        return None  # team init never ran
    role = conn.execute(
        sa.text(f"SELECT {_highest_role('COALESCE(:who, current_user)')}"), {"who": name}
    ).scalar_one()
    return None if role is None else str(role)


def check_name(name: str) -> str:
    if not _NAME.match(name) or name in ROLES or name.startswith("pg_"):
        raise InputError(
            f"{name!r} is not a usable login name: lower-case letters, digits, '_', '.', '-', "
            "starting with a letter or '_', and not annotator, reviewer, admin or pg_*"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"unknown team role {role!r}: one of {', '.join(ROLES)}")
    return role


def init(conn: Connection) -> None:
    """Install roles, privileges, policies and rules (idempotent); the runner becomes admin."""
    database = str(conn.execute(sa.text("SELECT current_database()")).scalar_one())
    for statement in init_statements(database):
        conn.exec_driver_sql(statement)
    me = identity(conn)
    superuser = conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
    if not superuser.scalar_one():
        conn.exec_driver_sql(f"GRANT admin TO {_quoted(me)}")


def add_member(conn: Connection, name: str, role: str, password: str | None) -> None:
    """Give ``name`` exactly one team role, creating the login when it does not exist (that
    needs CREATEROLE: the database owner). Admins may hand out annotator and reviewer."""
    check_name(name)
    check_role(role)
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    who = _quoted(name)
    if not exists:
        conn.exec_driver_sql(f"CREATE ROLE {who} LOGIN")
    if password is not None:
        # The password travels to the server inside one statement and is stored there only,
        # as the server's hash; it is never logged or kept here.
        quoted = conn.execute(sa.text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        conn.exec_driver_sql(f"ALTER ROLE {who} LOGIN PASSWORD {quoted}")
    held = _direct_roles(conn, name)
    for other in held - {role}:
        conn.exec_driver_sql(f"REVOKE {other} FROM {who}")
    if role not in held:
        conn.exec_driver_sql(f"GRANT {role} TO {who}")


def _direct_roles(conn: Connection, name: str) -> set[str]:
    rows = conn.execute(
        sa.text(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :n AND g.rolname = ANY(:r)"
        ),
        {"n": name, "r": list(ROLES)},
    )
    return {r[0] for r in rows}


def remove_member(conn: Connection, name: str) -> None:
    """Takes the team roles away (the login and everything it did stay, for the history)."""
    check_name(name)
    if not conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first():
        raise InputError(f"no login role {name!r} on this server")
    for role in _direct_roles(conn, name):
        conn.exec_driver_sql(f"REVOKE {role} FROM {_quoted(name)}")
    conn.execute(sa.text("DELETE FROM work_claims WHERE holder = :n"), {"n": name})


def members(conn: Connection) -> list[Member]:
    rows = conn.execute(
        sa.text(
            f"SELECT r.rolname, {_highest_role('r.rolname')}, r.rolcanlogin FROM pg_roles r "
            "WHERE r.rolname <> ALL(:roles) AND pg_has_role(r.rolname, 'annotator', 'MEMBER') "
            "AND NOT r.rolsuper ORDER BY r.rolname"
        ),
        {"roles": list(ROLES)},
    )
    return [Member(name, role, bool(can_login)) for name, role, can_login in rows]


def refusal(exc: DBAPIError) -> RefusedError | None:
    """A team rule's or a privilege's refusal as one line; None for other failures."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) != "42501":
        return None
    text = str(orig).strip().splitlines()[0]
    if text.startswith(RULE_PREFIX):
        return RefusedError(f"refused by the database: {text[len(RULE_PREFIX) :]}")
    if "admin option" in text or "to create role" in text:
        return RefusedError(
            f"refused by the database: {text}: only admins change roles (annotator, "
            "reviewer), and only the database owner creates logins and makes admins"
        )
    table = re.search(r'(?:table|relation) "?(\w+)"?', text)
    rule = _PRIVILEGE_RULES.get(table.group(1) if table else "", _NO_ROLE)
    return RefusedError(f"refused by the database: {text}: {rule}")


# What a missing privilege or a failed policy on a table means in the team's words.
_NO_ROLE = "your login's team role does not allow this (`annotator team list` shows the roles)"
_PRIVILEGE_RULES = {
    "reason_codes": "only admins change reason codes",
    "project_settings": "only admins change project settings",
    "reviews": "only reviewers give verdicts, and never on their own last edit (four eyes)",
    "work_claims": "a claim can be taken over only when it has lapsed, or by an admin",
}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def require_postgres(engine: Engine) -> None:
    if not is_postgres(engine):
        raise StorageError(
            "team mode needs a PostgreSQL database (a SQLite file has one user: the OS login)"
        )
