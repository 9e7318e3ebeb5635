"""The double-entry rules hold in the database itself, not only in the code that writes to it."""

import pytest
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session

from wallet.db import session_factory
from wallet.db.models import JournalEntry, JournalLeg, LedgerAccount
from wallet.errors import MoneyError

TOKEN = "0x" + "11" * 20


def _entry(session: Session, log_index: int = 0) -> int:
    entry = JournalEntry(
        chain_id=1,
        token=TOKEN,
        block_number=1,
        block_hash="0x" + "00" * 32,
        block_time=0,
        tx_hash="0x" + "ab" * 32,
        log_index=log_index,
        kind="transfer",
        state="included",
        posted=False,
    )
    session.add(entry)
    session.flush()
    return entry.id


def _accounts(session: Session) -> tuple[int, int]:
    a = LedgerAccount(chain_id=1, token=TOKEN, holder="0x" + "aa" * 20)
    b = LedgerAccount(chain_id=1, token=TOKEN, holder="0x" + "bb" * 20)
    session.add_all([a, b])
    session.flush()
    return a.id, b.id


def _post(session: Session, entry_id: int) -> None:
    session.execute(update(JournalEntry).where(JournalEntry.id == entry_id).values(posted=True))


def test_a_balanced_entry_posts(engine: Engine) -> None:
    with session_factory(engine).begin() as s:
        a, b = _accounts(s)
        e = _entry(s)
        s.execute(
            insert(JournalLeg),
            [{"entry_id": e, "account_id": a, "amount": -5}, {"entry_id": e, "account_id": b, "amount": 5}],
        )
        _post(s, e)


@pytest.mark.parametrize("legs", [[-5, 4], [5], [-5, 5, 1]])
def test_an_unbalanced_or_one_legged_entry_cannot_post(engine: Engine, legs: list[int]) -> None:
    with pytest.raises(DBAPIError, match="sum to zero"), session_factory(engine).begin() as s:
        a, b = _accounts(s)
        e = _entry(s)
        s.execute(
            insert(JournalLeg),
            [{"entry_id": e, "account_id": (a, b)[i % 2], "amount": v} for i, v in enumerate(legs)],
        )
        _post(s, e)


def test_a_zero_leg_is_refused(engine: Engine) -> None:
    with pytest.raises(DBAPIError), session_factory(engine).begin() as s:
        a, _ = _accounts(s)
        s.execute(insert(JournalLeg), [{"entry_id": _entry(s), "account_id": a, "amount": 0}])


def test_an_entry_cannot_be_inserted_posted(engine: Engine) -> None:
    with pytest.raises(DBAPIError, match="inserted unposted"), session_factory(engine).begin() as s:
        s.execute(
            insert(JournalEntry).values(
                chain_id=1,
                token=TOKEN,
                block_number=1,
                block_hash="0x",
                block_time=0,
                tx_hash="0x",
                log_index=0,
                kind="transfer",
                state="included",
                posted=True,
            )
        )


def test_the_legs_of_a_posted_entry_cannot_change(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        a, b = _accounts(s)
        e = _entry(s)
        s.execute(
            insert(JournalLeg),
            [{"entry_id": e, "account_id": a, "amount": -5}, {"entry_id": e, "account_id": b, "amount": 5}],
        )
        _post(s, e)
    for change in (
        update(JournalLeg).where(JournalLeg.entry_id == e).values(amount=7),
        delete(JournalLeg).where(JournalLeg.entry_id == e),
        insert(JournalLeg).values(entry_id=e, account_id=a, amount=1),
        update(JournalEntry).where(JournalEntry.id == e).values(posted=False),
    ):
        with pytest.raises(DBAPIError, match="posted journal entry"), sessions.begin() as s:
            s.execute(change)


def test_the_same_log_is_applied_at_most_once(engine: Engine) -> None:
    with pytest.raises(DBAPIError), session_factory(engine).begin() as s:
        _entry(s, log_index=3)
        _entry(s, log_index=3)


def test_amounts_beyond_64_bits_are_exact_on_postgresql_and_refused_on_sqlite(engine: Engine) -> None:
    big = 2**96 - 1  # the largest balance the token allows
    sessions = session_factory(engine)
    if engine.dialect.name == "sqlite":
        with pytest.raises(StatementError) as info, sessions.begin() as s:
            a, _ = _accounts(s)
            s.execute(insert(JournalLeg), [{"entry_id": _entry(s), "account_id": a, "amount": 2**63}])
        assert isinstance(info.value.orig, MoneyError)
        return
    with sessions.begin() as s:
        a, b = _accounts(s)
        e = _entry(s)
        s.execute(
            insert(JournalLeg),
            [
                {"entry_id": e, "account_id": a, "amount": -big},
                {"entry_id": e, "account_id": b, "amount": big},
            ],
        )
        _post(s, e)
    with sessions() as s:
        assert s.scalar(select(func.sum(JournalLeg.amount)).where(JournalLeg.account_id == b)) == big
