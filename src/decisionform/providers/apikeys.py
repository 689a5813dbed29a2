"""API keys in the ``api_keys`` table: ``krn_`` + 256 random bits, stored only as a hash.

A key binds one tenant and one role (viewer < editor < admin). The plaintext is
returned once, by ``create_api_key``; the table keeps its sha256 (a key is
random, so a plain digest cannot be brute-forced the way a password hash can)
and a short prefix for people to tell keys apart in ``apikey list``. A key is
usable until it is revoked or its expiry passes; ``verify_api_key`` says
which of the three refused it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, select, update

from decisionform.errors import AccessDenied, UsageError
from decisionform.providers.schema import api_keys, make_id, tenants, utcnow

KEY_PREFIX = "krn_"
ID_PREFIX = "key"
ROLES = ("viewer", "editor", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8
_KEY_RE = re.compile(r"^krn_[A-Za-z0-9_-]{20,200}$")
_DURATION_RE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class ApiKey:
    """What the table says about one key (never the key itself)."""

    id: str
    tenant_id: str
    tenant: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime | None = None) -> str:
        now = now or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise UsageError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """``90d``, ``12h``, ``30m``, ``2w`` from now, or an ISO date / date-time (UTC if no zone)."""
    if text is None or not text.strip():
        return None
    now = now or utcnow()
    value = text.strip()
    match = _DURATION_RE.match(value.lower())
    if match:
        when = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                when = datetime.combine(date.fromisoformat(value), datetime.min.time())
            except ValueError:
                raise UsageError(f"invalid expiry {text!r}: give a duration (90d, 12h, 2w) or an ISO "
                                 "date or date-time such as 2026-12-31") from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise UsageError(f"expiry {text!r} is in the past")
    return when.astimezone(UTC)


def create_api_key(conn: Connection, tenant_id: str, role: str, *, name: str | None = None,
                   expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plaintext (the only time it exists)."""
    check_role(role)
    if name is not None and (not name.strip() or len(name) > 255):
        raise UsageError("a key name must be 1 to 255 characters, not all blank")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = make_id(ID_PREFIX)
    values = {"id": key_id, "tenant_id": tenant_id, "name": name or f"apikey {key_id}", "role": role,
              "key_hash": hash_key(key), "key_prefix": key[:DISPLAY_PREFIX_LENGTH], "created_at": utcnow(),
              "expires_at": expires_at, "revoked_at": None}
    conn.execute(api_keys.insert().values(**values))
    found = _select(conn, api_keys.c.id == key_id)
    return found[0], key


def _select(conn: Connection, *where: object) -> list[ApiKey]:
    query = (select(api_keys, tenants.c.name.label("tenant_name"))
             .join(tenants, tenants.c.id == api_keys.c.tenant_id).where(*where)  # type: ignore[arg-type]
             .order_by(tenants.c.name, api_keys.c.created_at, api_keys.c.id))
    return [ApiKey(id=r.id, tenant_id=r.tenant_id, tenant=r.tenant_name, name=r.name, role=r.role,
                   prefix=r.key_prefix, created_at=r.created_at, expires_at=r.expires_at,
                   revoked_at=r.revoked_at)
            for r in conn.execute(query)]


def list_api_keys(conn: Connection, tenant_id: str | None = None) -> list[ApiKey]:
    return _select(conn, *([api_keys.c.tenant_id == tenant_id] if tenant_id else []))


def find_api_key(conn: Connection, ident: str, tenant_id: str | None = None) -> ApiKey:
    """A key by its id (``key_…``) or its displayed prefix (``krn_abcd1234``)."""
    column = api_keys.c.key_prefix if ident.startswith(KEY_PREFIX) else api_keys.c.id
    where = [column == ident] + ([api_keys.c.tenant_id == tenant_id] if tenant_id else [])
    found = _select(conn, *where)
    if not found:
        raise UsageError(f"no API key {ident!r}" + (" for this tenant" if tenant_id else "") +
                         " (see `decisionform apikey list`)")
    if len(found) > 1:
        raise UsageError(f"{ident!r} matches {len(found)} keys; give the key id (key_…) instead")
    return found[0]


def revoke_api_key(conn: Connection, ident: str, tenant_id: str | None = None) -> ApiKey:
    """Revoke a key (idempotent: revoking a revoked key keeps its first revocation time)."""
    key = find_api_key(conn, ident, tenant_id)
    conn.execute(update(api_keys).where(api_keys.c.id == key.id, api_keys.c.revoked_at.is_(None))
                 .values(revoked_at=utcnow()))
    return _select(conn, api_keys.c.id == key.id)[0]


def verify_api_key(conn: Connection, key: str, now: datetime | None = None) -> ApiKey:
    """The key's record if it is usable; AccessDenied saying why not (unknown, revoked, expired)."""
    if not _KEY_RE.match(key):
        raise AccessDenied("unknown API key (keys look like krn_…)")
    found = _select(conn, api_keys.c.key_hash == hash_key(key))
    if not found:
        raise AccessDenied("unknown API key")
    record = found[0]
    status = record.status(now)
    if status == "revoked":
        raise AccessDenied(f"API key {record.id} was revoked")
    if status == "expired":
        raise AccessDenied(f"API key {record.id} has expired")
    return record
