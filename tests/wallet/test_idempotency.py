"""The idempotency module on its own, against real databases: a table of its own with a unique key."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from wallet.db import session_factory
from wallet.errors import IdempotencyConflictError, InvalidRequestError
from wallet.idempotency import check_client_key, insert_or_replay, replay, request_hash, scoped_key


class _Base(DeclarativeBase):
    pass


class Thing(_Base):
    __tablename__ = "idempotency_test_things"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    _Base.metadata.create_all(engine)
    yield session_factory(engine)
    _Base.metadata.drop_all(engine)


def _store(sessions: sessionmaker[Session], key: str, value: str) -> tuple[Thing, bool]:
    body_hash = request_hash({"value": value})

    def insert(session: Session) -> Thing:
        thing = Thing(id=uuid.uuid4().hex, key=key, request_hash=body_hash, value=value)
        session.add(thing)
        return thing

    def find() -> Thing | None:
        with sessions() as session:
            return session.scalars(select(Thing).where(Thing.key == key)).one_or_none()

    return insert_or_replay(sessions, insert, find, body_hash=body_hash, key=key)


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(Thing)).all())


def test_the_first_request_is_stored_and_a_repeat_gets_it_back(sessions: sessionmaker[Session]) -> None:
    first, created = _store(sessions, "k1", "10.00")
    again, created_again = _store(sessions, "k1", "10.00")
    assert created
    assert not created_again
    assert again.id == first.id
    assert _count(sessions) == 1


def test_a_repeat_with_another_body_is_a_conflict_and_stores_nothing(sessions: sessionmaker[Session]) -> None:
    _store(sessions, "k1", "10.00")
    with pytest.raises(IdempotencyConflictError, match="k1"):
        _store(sessions, "k1", "10.01")
    assert _count(sessions) == 1


def test_concurrent_requests_with_one_key_store_one_row_and_all_see_it(
    sessions: sessionmaker[Session],
) -> None:
    results: list[tuple[str, bool]] = []
    start = threading.Barrier(8)

    def submit() -> None:
        start.wait()
        thing, created = _store(sessions, "race", "5.00")
        results.append((thing.id, created))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({thing_id for thing_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert _count(sessions) == 1


def test_another_constraint_failing_is_not_taken_for_a_repeat(sessions: sessionmaker[Session]) -> None:
    thing, _ = _store(sessions, "k1", "1")

    def insert_same_id(session: Session) -> Thing:
        duplicate = Thing(id=thing.id, key="k2", request_hash=request_hash({}), value="2")
        session.add(duplicate)
        return duplicate

    with pytest.raises(IntegrityError):
        insert_or_replay(sessions, insert_same_id, lambda: None, body_hash=request_hash({}), key="k2")


def test_the_body_hash_ignores_key_order_but_not_values() -> None:
    assert request_hash({"a": "1", "b": "2"}) == request_hash({"b": "2", "a": "1"})
    assert request_hash({"a": "1"}) != request_hash({"a": "1 "})


@pytest.mark.parametrize("key", ["", "x" * 101, "tab\there", "new\nline"])
def test_client_keys_must_be_1_to_100_printable_characters(key: str) -> None:
    with pytest.raises(InvalidRequestError, match="Idempotency-Key"):
        check_client_key(key)


def test_a_client_key_is_scoped_to_its_owner() -> None:
    assert scoped_key("alice", "k") != scoped_key("bob", "k")
    assert check_client_key("x" * 100) == "x" * 100


def test_replay_answers_the_stored_request_only_for_the_same_body() -> None:
    stored = Thing(id="1", key="k", request_hash=request_hash({"v": "1"}), value="1")
    assert replay(stored, request_hash({"v": "1"}), "k") is stored
    with pytest.raises(IdempotencyConflictError):
        replay(stored, request_hash({"v": "2"}), "k")
