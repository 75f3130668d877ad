"""API keys: Bearer tokens, stored as sha256 hashes. Every voice and job belongs to a key.

With no key registered the service is open to whoever can reach it, so ``python -m server serve``
then binds to loopback only (see ``server.cli``).
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select

from server.db import ApiKey, Database, ServiceFlag, new_id

LOCAL_OWNER = "local"  # the owner of everything when no key is registered
PREFIX = "va_"
KEYED = "keyed"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(db: Database, name: str, key: str | None = None) -> str:
    """Register a key (a new random one unless given) and return it; only its hash is kept."""
    key = key or PREFIX + secrets.token_urlsafe(24)
    digest = hash_key(key)
    with db.session() as s:
        if s.scalar(select(ApiKey).where(ApiKey.key_hash == digest)) is None:
            s.add(ApiKey(id=new_id("key"), name=name, key_hash=digest))
        if s.get(ServiceFlag, KEYED) is None:
            s.add(ServiceFlag(name=KEYED))
    return key


def ever_keyed(db: Database) -> bool:
    """Whether a key was ever registered: then the service needs keys, even after every key
    is revoked and across restarts (a database from before the flag counts its keys)."""
    with db.session() as s:
        if s.get(ServiceFlag, KEYED) is not None:
            return True
        if s.scalar(select(func.count()).select_from(ApiKey)):
            s.add(ServiceFlag(name=KEYED))
            return True
    return False


def keys_exist(db: Database) -> bool:
    with db.session() as s:
        return bool(s.scalar(select(func.count()).select_from(ApiKey)))


def owner_of(db: Database, key: str) -> str | None:
    with db.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        return row.id if row else None


def revoke_key(db: Database, key_id: str) -> bool:
    with db.session() as s:
        row = s.get(ApiKey, key_id)
        if row is None:
            return False
        s.delete(row)
        return True


def list_keys(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(k.id, k.name) for k in s.scalars(select(ApiKey).order_by(ApiKey.created_at))]
