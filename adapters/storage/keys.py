"""Managed gateway keys: made, changed and revoked through the admin API, kept in the data directory.

Only a key's SHA-256 digest is stored; the secret is shown once, when the key is made. Lookups are
served from an in-memory snapshot, so checking a key costs a dict lookup; every worker checks at
most every `REFRESH_S` seconds whether another process changed the table (`PRAGMA data_version`,
one cheap statement) and reloads the snapshot if so, so a key revoked on one worker is refused by
all of them within that time. Changes are rare and small, and are written at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import orjson

from interlingua.adapters.storage import sqlite

REFRESH_S = 0.25

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    sha256 BLOB NOT NULL UNIQUE,
    models TEXT NOT NULL,
    rpm INTEGER,
    tpm INTEGER,
    budget REAL,
    budget_period TEXT NOT NULL,
    created REAL NOT NULL
);
"""
_COLUMNS = "name, sha256, models, rpm, tpm, budget, budget_period, created"


@dataclass(slots=True, frozen=True)
class ManagedKey:
    name: str
    models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    budget: float | None = None
    budget_period: str = "month"
    created: float = 0.0

    def public(self) -> dict[str, Any]:
        """What the admin API shows of a key: everything but its digest."""
        return {"name": self.name, "models": list(self.models), "rpm": self.rpm, "tpm": self.tpm,
                "budget": self.budget, "budget_period": self.budget_period, "created": int(self.created)}


class Keys(Protocol):
    """What auth and the admin API need of a key store: this module's, or PostgreSQL's (`pg_keys`).
    `lookup` is on every request and answers from memory; the rest are the admin API's."""

    async def lookup(self, digest: bytes) -> ManagedKey | None: ...
    async def keys(self) -> list[ManagedKey]: ...
    async def get(self, name: str) -> ManagedKey | None: ...
    async def create(self, key: ManagedKey, digest: bytes) -> ManagedKey: ...
    async def update(self, key: ManagedKey) -> bool: ...
    async def rotate(self, name: str, digest: bytes) -> bool: ...
    async def delete(self, name: str) -> bool: ...
    async def aclose(self) -> None: ...


class KeyExists(ValueError):
    """A key of that name, or with that secret, is already there."""


def _key(row: tuple[Any, ...]) -> tuple[bytes, ManagedKey]:
    name, digest, models, rpm, tpm, budget, period, created = row
    return bytes(digest), ManagedKey(name, tuple(orjson.loads(models)), rpm, tpm, budget, period, created)


class KeyStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite.connect(path, _SCHEMA, shared=True)
        self._lock = threading.Lock()
        self._by_digest: dict[bytes, ManagedKey] = {}
        self._version = -1
        self._checked = 0.0
        self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if force or version != self._version:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM keys").fetchall()
                self._by_digest = dict(_key(row) for row in rows)
                self._version = version
        self._checked = time.monotonic()

    async def lookup(self, digest: bytes) -> ManagedKey | None:
        if time.monotonic() - self._checked >= REFRESH_S:
            self._refresh()
        return self._by_digest.get(digest)

    async def keys(self) -> list[ManagedKey]:
        self._refresh()
        return sorted(self._by_digest.values(), key=lambda k: k.name)

    async def get(self, name: str) -> ManagedKey | None:
        return next((k for k in await self.keys() if k.name == name), None)

    async def create(self, key: ManagedKey, digest: bytes) -> ManagedKey:
        key = replace(key, created=time.time())
        try:
            with self._lock:
                self._db.execute(f"INSERT INTO keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (key.name, digest, orjson.dumps(list(key.models)).decode(), key.rpm, key.tpm,
                                  key.budget, key.budget_period, key.created))
        except sqlite3.IntegrityError:
            raise KeyExists(key.name) from None
        self._refresh(force=True)
        return key

    async def update(self, key: ManagedKey) -> bool:
        with self._lock:
            changed = self._db.execute(
                "UPDATE keys SET models = ?, rpm = ?, tpm = ?, budget = ?, budget_period = ? WHERE name = ?",
                (orjson.dumps(list(key.models)).decode(), key.rpm, key.tpm, key.budget, key.budget_period,
                 key.name)).rowcount
        self._refresh(force=True)
        return changed > 0

    async def rotate(self, name: str, digest: bytes) -> bool:
        """Give the key named `name` a new secret: the old one is refused from then on."""
        with self._lock:
            changed = self._db.execute("UPDATE keys SET sha256 = ? WHERE name = ?", (digest, name)).rowcount
        self._refresh(force=True)
        return changed > 0

    async def delete(self, name: str) -> bool:
        with self._lock:
            deleted = self._db.execute("DELETE FROM keys WHERE name = ?", (name,)).rowcount
        self._refresh(force=True)
        return deleted > 0

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()
