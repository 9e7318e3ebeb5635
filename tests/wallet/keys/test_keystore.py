import logging

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from pydantic import SecretStr
from sqlalchemy import Engine, select, update

from wallet.chain.eip3009 import TokenDomain, typed_data
from wallet.db import session_factory
from wallet.db.models import SigningKey
from wallet.errors import ConfigurationError, SigningError, UnknownKeyError
from wallet.keys import Signer
from wallet.keys.keystore import Keystore

KEK_A = SecretStr("a1" * 32)
KEK_B = SecretStr("b2" * 32)


@pytest.fixture
def keystore(engine: Engine) -> Keystore:
    return Keystore(session_factory(engine), KEK_A)


def _rows(engine: Engine) -> list[SigningKey]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(SigningKey).order_by(SigningKey.label)))


def _recovers(signer: Signer) -> bool:
    message = typed_data(
        TokenDomain(name="T", chain_id=1, address=signer.address),
        "CancelAuthorization",
        {"authorizer": signer.address, "nonce": b"\x07" * 32},
    )
    sig = signer.sign_typed_data(message)
    return bool(
        Account.recover_message(encode_typed_data(full_message=message), signature=sig.to_bytes())
        == signer.address
    )


def test_a_created_key_is_stored_wrapped_and_loads_back_to_the_same_address(
    keystore: Keystore, engine: Engine
) -> None:
    created = keystore.create("customer:1")
    loaded = keystore.signer("customer:1")
    assert loaded.address == created.address
    assert keystore.signer_for_address(created.address).address == created.address
    assert _recovers(loaded)
    [row] = _rows(engine)
    assert row.address == created.address
    assert row.backend == "local"
    assert row.kek_id == keystore.kek_id
    assert row.wrapped_key is not None
    assert len(row.wrapped_key) == 32 + 16  # key and GCM tag, nothing else


def test_the_raw_key_never_reaches_the_database(keystore: Keystore, engine: Engine) -> None:
    signer = keystore.create("role:relayer")
    raw = bytes(signer._account.key)  # the test peeks once, to look for it in storage
    [row] = _rows(engine)
    assert row.wrapped_key is not None
    assert raw not in row.wrapped_key
    assert raw.hex() not in repr(row)


def test_a_label_is_unique(keystore: Keystore) -> None:
    keystore.create("role:minter")
    with pytest.raises(SigningError, match="exists already"):
        keystore.create("role:minter")


def test_get_or_create_returns_the_same_key_every_time(keystore: Keystore) -> None:
    first = keystore.get_or_create("customer:7")
    assert keystore.get_or_create("customer:7").address == first.address
    assert keystore.labels() == ["customer:7"]


def test_an_unknown_label_is_an_unknown_key_error(keystore: Keystore) -> None:
    with pytest.raises(UnknownKeyError, match="nobody"):
        keystore.signer("nobody")


def test_rotation_rewraps_every_key_without_changing_addresses(keystore: Keystore, engine: Engine) -> None:
    addresses = {label: keystore.create(label).address for label in ("a", "b", "c")}
    before = {r.label: r.wrapped_key for r in _rows(engine)}
    assert keystore.rotate(KEK_B) == 3
    after = _rows(engine)
    assert all(r.wrapped_key != before[r.label] and r.rotated_at is not None for r in after)
    rotated = Keystore(session_factory(engine), KEK_B)
    assert {label: rotated.signer(label).address for label in addresses} == addresses
    assert keystore.signer("a").address == addresses["a"]  # the rotating keystore switched too
    stale = Keystore(session_factory(engine), KEK_A)
    with pytest.raises(SigningError, match="wrapped under KEK"):
        stale.signer("a")


def test_a_rotation_that_fails_changes_nothing(keystore: Keystore, engine: Engine) -> None:
    keystore.create("a")
    keystore.create("b")
    with session_factory(engine).begin() as session:
        session.execute(update(SigningKey).where(SigningKey.label == "b").values(wrapped_key=b"\x00" * 48))
    before = {r.label: (r.wrapped_key, r.kek_id) for r in _rows(engine)}
    with pytest.raises(SigningError, match="does not open"):
        keystore.rotate(KEK_B)
    assert {r.label: (r.wrapped_key, r.kek_id) for r in _rows(engine)} == before
    assert keystore.signer("a")  # still on the old KEK


def test_a_wrapped_key_moved_to_another_row_does_not_open(keystore: Keystore, engine: Engine) -> None:
    keystore.create("a")
    keystore.create("b")
    rows = {r.label: r for r in _rows(engine)}
    with session_factory(engine).begin() as session:
        session.execute(
            update(SigningKey)
            .where(SigningKey.label == "b")
            .values(wrapped_key=rows["a"].wrapped_key, wrap_nonce=rows["a"].wrap_nonce)
        )
    with pytest.raises(SigningError, match="does not open"):
        keystore.signer("b")


@pytest.mark.parametrize("bad", ["", "00", "zz" * 32, "ab" * 31, "ab" * 33])
def test_a_malformed_kek_is_a_configuration_error(engine: Engine, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="64 hex characters"):
        Keystore(session_factory(engine), SecretStr(bad))


def test_nothing_secret_shows_in_reprs_errors_or_logs(
    keystore: Keystore, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    signer = keystore.create("a")
    raw_hex = bytes(signer._account.key).hex()
    logging.getLogger("t").warning("%r %r %s", keystore, signer, _rows(engine))
    stale = Keystore(session_factory(engine), KEK_B)
    with pytest.raises(SigningError) as info:
        stale.signer("a")
    for text in (caplog.text, str(info.value), repr(keystore), repr(keystore._kek)):
        assert raw_hex not in text
        assert "a1" * 32 not in text
        assert "b2" * 32 not in text


def test_every_operational_role_and_customer_gets_its_own_address(keystore: Keystore) -> None:
    from wallet.keys.keystore import OPERATIONAL_ROLES, customer_key, operational_keys

    roles = operational_keys(keystore)
    assert set(roles) == set(OPERATIONAL_ROLES)
    customers = [customer_key(keystore, str(i)).address for i in range(3)]
    addresses = [s.address for s in roles.values()] + customers
    assert len(set(addresses)) == len(addresses)
    assert {r: s.address for r, s in operational_keys(keystore).items()} == {
        r: s.address for r, s in roles.items()
    }
    assert customer_key(keystore, "1").address == customers[1]
    with pytest.raises(SigningError, match="customer id"):
        customer_key(keystore, "role:admin")
