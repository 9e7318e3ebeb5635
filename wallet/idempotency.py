"""Idempotency keys, one way for every request that moves money or changes the bank.

A caller names each request with a key. The first request under a key is stored with the hash of its
body; a repeat with the same body gets the stored result back (and is told it is a repeat), a repeat
with another body is an `IdempotencyConflictError`. Storing is optimistic: the row is inserted and
the database's unique constraint on the key decides a race, so two concurrent requests with one key
store one row and both callers see it.

Keys from clients are scoped to the caller (`scoped_key`), so two customers may use the same one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.errors import IdempotencyConflictError, InvalidRequestError

MAX_CLIENT_KEY_LENGTH = 100


class Stored(Protocol):
    """A stored request: it remembers the hash of the body it was made with."""

    @property
    def request_hash(self) -> str:
        """The SHA-256 of the request's canonical body (`request_hash`)."""
        ...


StoredT = TypeVar("StoredT", bound=Stored)


def check_client_key(key: str | None) -> str:
    """The client's `Idempotency-Key`, refused unless it is 1 to 100 printable characters."""
    if not key or len(key) > MAX_CLIENT_KEY_LENGTH or not key.isprintable():
        raise InvalidRequestError(
            f"the Idempotency-Key header must be 1 to {MAX_CLIENT_KEY_LENGTH} printable characters"
        )
    return key


def scoped_key(owner_id: str, key: str) -> str:
    """`key` as stored for `owner_id`: the same client key from two callers names two requests."""
    return f"{owner_id}:{check_client_key(key)}"


def request_hash(body: Mapping[str, object]) -> str:
    """SHA-256 (hex) of `body` as canonical JSON (sorted keys); values must be JSON types already."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def replay(existing: StoredT, body_hash: str, key: str) -> StoredT:
    """`existing` when it was made with the same body, else `IdempotencyConflictError` naming `key`."""
    if existing.request_hash != body_hash:
        raise IdempotencyConflictError(key)
    return existing


def insert_or_replay(
    sessions: sessionmaker[Session],
    insert: Callable[[Session], StoredT],
    find: Callable[[], StoredT | None],
    *,
    body_hash: str,
    key: str,
) -> tuple[StoredT, bool]:
    """Runs `insert` in a database transaction of its own and returns (its row, True). When the key is
    taken already (the unique constraint refuses the insert), returns (the stored row, False) if its
    body is the same, and raises `IdempotencyConflictError` if not. `find` looks the key up."""
    try:
        with sessions.begin() as session:
            row = insert(session)
    except IntegrityError:
        existing = find()
        if existing is None:
            raise  # another constraint refused it: not a repeat
        return replay(existing, body_hash, key), False
    return row, True
