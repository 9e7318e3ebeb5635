"""The double-entry rules hold in the database itself, not only in the code that writes to it."""

import pytest
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from wallet.db import session_factory
from wallet.db.models import ChainEvent, JournalEntry, JournalLeg, LedgerAccount, Reorg, ReorgedEntry
from wallet.errors import MoneyError

TOKEN = "0x" + "11" * 20
OTHER_TOKEN = "0x" + "22" * 20


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


def _posted_entry(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    """A posted entry moving 5 from a to b (as the indexer writes one); returns (entry, a, b)."""
    with sessions.begin() as s:
        a, b = _accounts(s)
        e = _entry(s)
        s.execute(
            insert(JournalLeg),
            [{"entry_id": e, "account_id": a, "amount": -5}, {"entry_id": e, "account_id": b, "amount": 5}],
        )
        _post(s, e)
    return e, a, b


def test_a_balanced_entry_posts(engine: Engine) -> None:
    e, _, b = _posted_entry(session_factory(engine))
    with session_factory(engine)() as s:
        assert s.scalar(select(JournalEntry.posted).where(JournalEntry.id == e)) is True
        assert s.scalar(select(func.sum(JournalLeg.amount)).where(JournalLeg.account_id == b)) == 5


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
    e, a, _ = _posted_entry(sessions)
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


# ----------------------------------------------------------------------- tampering the review tried ---


def test_legs_in_another_currency_cannot_balance_an_entry(engine: Engine) -> None:
    """USD legs balancing EUR legs: each leg must be on an account in its entry's token."""
    with pytest.raises(DBAPIError, match="entry's token"), session_factory(engine).begin() as s:
        usd, _ = _accounts(s)
        eur = LedgerAccount(chain_id=1, token=OTHER_TOKEN, holder="0x" + "bb" * 20)
        s.add(eur)
        s.flush()
        e = _entry(s)
        s.execute(
            insert(JournalLeg),
            [
                {"entry_id": e, "account_id": usd, "amount": -5},
                {"entry_id": e, "account_id": eur.id, "amount": 5},
            ],
        )


def test_an_unposted_leg_cannot_be_moved_to_another_token(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        a, _ = _accounts(s)
        e = _entry(s)
        s.execute(insert(JournalLeg), [{"entry_id": e, "account_id": a, "amount": -5}])
        eur = LedgerAccount(chain_id=1, token=OTHER_TOKEN, holder="0x" + "cc" * 20)
        s.add(eur)
        s.flush()
        eur_id = eur.id
    with pytest.raises(DBAPIError, match="entry's token"), sessions.begin() as s:
        s.execute(update(JournalLeg).where(JournalLeg.entry_id == e).values(account_id=eur_id))


def test_a_posted_entry_cannot_be_deleted_without_a_recorded_reorg(engine: Engine) -> None:
    sessions = session_factory(engine)
    e, _, b = _posted_entry(sessions)
    with pytest.raises(DBAPIError, match="recorded reorg"), sessions.begin() as s:
        s.execute(delete(JournalEntry).where(JournalEntry.id == e))
    with sessions() as s:
        assert s.scalar(select(func.sum(JournalLeg.amount)).where(JournalLeg.account_id == b)) == 5
    # The indexer's way: the reorg and the entry as it was are recorded first; that record stays.
    with sessions.begin() as s:
        reorg = Reorg(
            chain_id=1,
            fork_block=0,
            old_head=1,
            old_hash="0x" + "00" * 32,
            entries_dropped=1,
            events_dropped=0,
            final_dropped=0,
        )
        s.add(reorg)
        s.flush()
        s.add(
            ReorgedEntry(
                reorg_id=reorg.id,
                entry_id=e,
                tx_hash="0x" + "ab" * 32,
                block_number=1,
                state="included",
                data={},
            )
        )
        s.flush()
        s.execute(delete(JournalEntry).where(JournalEntry.id == e))
    for change in (delete(ReorgedEntry), update(ReorgedEntry).values(block_number=2), delete(Reorg)):
        with pytest.raises(DBAPIError, match="append-only"), sessions.begin() as s:
            s.execute(change)


@pytest.mark.parametrize(
    "values",
    [
        {"token": OTHER_TOKEN},
        {"tx_hash": "0x" + "cd" * 32},
        {"block_number": 2},
        {"block_hash": "0x" + "11" * 32},
        {"log_index": 9},
        {"kind": "mint"},
        {"payment_reference": "0x" + "22" * 32},
    ],
    ids=lambda v: next(iter(v)),
)
def test_what_a_posted_entry_records_of_its_log_cannot_be_rewritten(
    engine: Engine, values: dict[str, object]
) -> None:
    sessions = session_factory(engine)
    e, _, _ = _posted_entry(sessions)
    with pytest.raises(DBAPIError, match="cannot be rewritten"), sessions.begin() as s:
        s.execute(update(JournalEntry).where(JournalEntry.id == e).values(**values))


def test_an_entrys_state_only_moves_forward(engine: Engine) -> None:
    sessions = session_factory(engine)
    e, _, _ = _posted_entry(sessions)
    with sessions.begin() as s:
        s.execute(update(JournalEntry).where(JournalEntry.id == e).values(state="confirmed"))
    for back in ("included",):
        with pytest.raises(DBAPIError, match="only moves forward"), sessions.begin() as s:
            s.execute(update(JournalEntry).where(JournalEntry.id == e).values(state=back))
    with sessions.begin() as s:
        s.execute(update(JournalEntry).where(JournalEntry.id == e).values(state="final"))
    for back in ("included", "confirmed"):
        with pytest.raises(DBAPIError, match="only moves forward"), sessions.begin() as s:
            s.execute(update(JournalEntry).where(JournalEntry.id == e).values(state=back))


@pytest.mark.parametrize("column", ["holder", "token", "chain_id"])
def test_a_ledger_account_cannot_be_repointed(engine: Engine, column: str) -> None:
    sessions = session_factory(engine)
    _, a, _ = _posted_entry(sessions)
    value = {"holder": "0x" + "ee" * 20, "token": OTHER_TOKEN, "chain_id": 5}[column]
    with pytest.raises(DBAPIError, match="cannot change"), sessions.begin() as s:
        s.execute(update(LedgerAccount).where(LedgerAccount.id == a).values({column: value}))


def test_hashes_are_stored_in_lower_case_so_a_case_variant_is_no_second_entry(engine: Engine) -> None:
    sessions = session_factory(engine)
    _posted_entry(sessions)
    with pytest.raises(DBAPIError, match="lower case"), sessions.begin() as s:
        s.add(
            JournalEntry(
                chain_id=1,
                token=TOKEN,
                block_number=1,
                block_hash="0x" + "00" * 32,
                block_time=0,
                tx_hash="0x" + "AB" * 32,
                log_index=0,
                kind="transfer",
                state="included",
                posted=False,
            )
        )
    with pytest.raises(DBAPIError), sessions.begin() as s:
        s.add(
            ChainEvent(
                chain_id=1,
                contract=TOKEN,
                block_number=1,
                tx_hash="0x" + "AB" * 32,
                log_index=0,
                name="Paused",
                args={},
            )
        )


def test_a_holder_spelled_in_another_case_is_no_second_account(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add(LedgerAccount(chain_id=1, token=TOKEN, holder="0x" + "aA" * 20))
    with pytest.raises(DBAPIError), sessions.begin() as s:
        s.add(LedgerAccount(chain_id=1, token=TOKEN, holder="0x" + "Aa" * 20))
