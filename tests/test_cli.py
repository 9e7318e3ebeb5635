"""The `tdw` command line, run as a real process against a real anvil."""

import json
from pathlib import Path

import pytest
from web3 import Web3

from tests.support.cli import tdw
from wallet.chain.node import AnvilNode, free_port
from wallet.db import make_engine, session_factory, upgrade
from wallet.db.models import Reorg
from wallet.incidents import open_incident
from wallet.vocabulary import IncidentKind, Severity


def test_deploy_then_verify_passes(anvil: AnvilNode, tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    deployed = tdw(
        "deploy", "--rpc", anvil.url, "--currency", "USD", "--currency", "JPY", "--manifest", str(manifest)
    )
    assert deployed.returncode == 0, deployed.stderr
    written = json.loads(manifest.read_text())
    assert set(written["tokens"]) == {"USD", "JPY"}
    assert written["tokens"]["JPY"]["decimals"] == 0
    verified = tdw("verify", "--manifest", str(manifest), "--rpc", anvil.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "token JPY" in verified.stdout
    assert "matches contracts/token/DepositToken.sol" in verified.stdout


def test_verify_exits_1_and_names_the_mismatch(anvil: AnvilNode, tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    assert tdw("deploy", "--rpc", anvil.url, "--currency", "EUR", "--manifest", str(manifest)).returncode == 0
    data = json.loads(manifest.read_text())
    data["tokens"]["EUR"]["address"] = data["registry"]["address"]
    manifest.write_text(json.dumps(data))
    result = tdw("verify", "--manifest", str(manifest), "--rpc", anvil.url)
    assert result.returncode == 1
    assert "MISMATCH token EUR" in result.stdout


def test_deploy_refuses_a_bad_address_and_an_unknown_currency(anvil: AnvilNode, tmp_path: Path) -> None:
    bad = tdw("deploy", "--rpc", anvil.url, "--admin", "0x1234", "--manifest", str(tmp_path / "a.json"))
    assert bad.returncode == 2
    assert "--admin '0x1234' is not an Ethereum address" in bad.stderr
    unknown = tdw("deploy", "--rpc", anvil.url, "--currency", "XYZ", "--manifest", str(tmp_path / "b.json"))
    assert unknown.returncode == 2
    assert "unknown currency 'XYZ'" in unknown.stderr
    assert not (tmp_path / "a.json").exists()
    assert not (tmp_path / "b.json").exists()


def test_production_refuses_the_development_deployer_key(anvil: AnvilNode, tmp_path: Path) -> None:
    result = tdw(
        "deploy",
        "--rpc",
        anvil.url,
        "--manifest",
        str(tmp_path / "m.json"),
        env={"TDW_ENVIRONMENT": "production"},
    )
    assert result.returncode == 2
    assert "public development key" in result.stderr


@pytest.mark.parametrize("command", [["keys"], ["add-user", "root", "--password", "a long enough password"]])
def test_production_commands_refuse_development_secrets_before_touching_anything(
    command: list[str], tmp_path: Path
) -> None:
    # A production database, but the public development KEK: keys or TOTP secrets wrapped under it
    # would be readable by anyone with the source code.
    database = f"sqlite:///{tmp_path / 'prod.db'}"
    env = {
        "TDW_ENVIRONMENT": "production",
        "TDW_DATA_DIR": str(tmp_path),
        "TDW_DATABASE_URL": database,
        "TDW_RPC_URL": "http://127.0.0.1:1",
        "TDW_TOKEN_SECRET": "t" * 48,
        "TDW_DEPLOYER_KEY": "0x" + "11" * 32,
    }
    result = tdw(*command, env=env)
    assert result.returncode == 2, result.stdout
    assert "TDW_KEK is the development key-encryption key" in result.stderr
    assert not list(tmp_path.iterdir())


def test_deploy_without_a_node_says_so() -> None:
    result = tdw("deploy", "--rpc", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert "no JSON-RPC node answers" in result.stderr


def test_bench_gas_prints_both_tokens_and_a_transfer_ratio_within_budget() -> None:
    result = tdw("bench", "gas", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    deposit, reference = doc["deposit_token"], doc["reference_erc20"]
    for key in (
        "transfer",
        "transfer_to_fresh_address",
        "mint",
        "burn",
        "transfer_with_authorization",
        "batch_authorization_per_transfer",
    ):
        assert deposit[key] > 21_000, key
    for key in ("transfer", "transfer_to_fresh_address", "mint", "burn"):
        assert reference[key] > 21_000, key
    assert doc["transfer_ratio"] == round(deposit["transfer"] / reference["transfer"], 4)
    # A settlement of three legs costs more than one transfer and is set beside three plain ones.
    settled = doc["settlement"]
    assert settled["cross_border_payment"] > deposit["transfer"]
    assert settled["cross_border_as_plain_transfers"] > 3 * 21_000
    assert settled["cross_border_ratio"] == round(
        settled["cross_border_payment"] / settled["cross_border_as_plain_transfers"], 3
    )
    assert settled["pvp"] > settled["pvp_as_plain_transfers"] / 2
    assert settled["pvp_as_plain_transfers"] > 2 * 21_000
    # The budget: every check enforced and still at most 1.30x a plain OpenZeppelin ERC-20 transfer.
    assert doc["transfer_ratio"] <= 1.30
    assert deposit["batch_size"] == 50


def test_bench_transfers_relays_every_transfer_and_prints_both_rates() -> None:
    result = tdw("bench", "transfers", "--n", "60", "--json")
    assert result.returncode == 0, result.stderr  # the bench raises unless all 60 executed on chain
    doc = json.loads(result.stdout)
    assert doc["n"] == 60
    assert doc["database"] == "sqlite"
    for key in ("raw_tx_per_s", "e2e_transfers_per_s", "local_signatures_per_s", "pkcs11_signatures_per_s"):
        assert doc[key] > 0, key
    # The ratio is of the two durations; the rates are rounded, so allow for that.
    assert abs(doc["ratio"] - doc["e2e_transfers_per_s"] / doc["raw_tx_per_s"]) < 0.01


def test_index_then_reconcile_agree_and_a_tampered_mirror_exits_1(anvil: AnvilNode, tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    db = f"sqlite:///{tmp_path / 'mirror.db'}"
    assert tdw("deploy", "--rpc", anvil.url, "--currency", "USD", "--manifest", str(manifest)).returncode == 0
    indexed = tdw("index", "--once", "--manifest", str(manifest), "--rpc", anvil.url, "--db", db)
    assert indexed.returncode == 0, indexed.stderr
    head = str(Web3(Web3.HTTPProvider(anvil.url)).eth.block_number)
    ok = tdw("reconcile", "--at-block", head, "--manifest", str(manifest), "--rpc", anvil.url, "--db", db)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "matches the chain" in ok.stdout, ok.stdout + ok.stderr
    # Money minted in the mirror that the chain never minted: reconcile must object.
    from sqlalchemy import insert, update

    from wallet.db import make_engine, session_factory
    from wallet.db.models import JournalEntry, JournalLeg, LedgerAccount

    token = json.loads(manifest.read_text())["tokens"]["USD"]["address"]
    with session_factory(make_engine(db)).begin() as s:
        holder = LedgerAccount(chain_id=31337, token=token, holder="0x" + "12" * 20)
        issuance = LedgerAccount(chain_id=31337, token=token, holder="0x" + "00" * 20)
        entry = JournalEntry(
            chain_id=31337,
            token=token,
            block_number=1,
            block_hash="0x",
            block_time=0,
            tx_hash="0xfeed",
            log_index=0,
            kind="mint",
            state="final",
            posted=False,
        )
        s.add_all([holder, issuance, entry])
        s.flush()
        legs = [(holder.id, 5), (issuance.id, -5)]
        s.execute(insert(JournalLeg), [{"entry_id": entry.id, "account_id": a, "amount": v} for a, v in legs])
        s.execute(update(JournalEntry).where(JournalEntry.id == entry.id).values(posted=True))
    bad = tdw("reconcile", "--at-block", head, "--manifest", str(manifest), "--rpc", anvil.url, "--db", db)
    assert bad.returncode == 1
    assert "DIFFERENCE" in bad.stdout
    assert "total supply: mirror 5, chain 0" in bad.stdout


def test_statement_writes_every_format_and_refuses_bad_input(anvil: AnvilNode, tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    db = f"sqlite:///{tmp_path / 'mirror.db'}"
    assert tdw("deploy", "--rpc", anvil.url, "--currency", "EUR", "--manifest", str(manifest)).returncode == 0
    assert tdw("index", "--once", "--manifest", str(manifest), "--rpc", anvil.url, "--db", db).returncode == 0
    account = "0x" + "ab" * 20
    common = [
        "--account",
        account,
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--manifest",
        str(manifest),
        "--rpc",
        anvil.url,
        "--db",
        db,
    ]
    as_json = tdw("statement", *common)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert (doc["currency"], doc["opening_balance"], doc["closing_balance"], doc["entries"]) == (
        "EUR",
        "0.00",
        "0.00",
        [],
    )
    for fmt, magic in (("csv", b"time,block"), ("pdf", b"%PDF"), ("camt053", b"<?xml")):
        out = tmp_path / f"s.{fmt}"
        result = tdw("statement", *common, "--format", fmt, "--output", str(out))
        assert result.returncode == 0, result.stderr
        assert out.read_bytes().startswith(magic)
    assert "one of json, csv, pdf, camt053" in tdw("statement", *common, "--format", "xls").stderr
    assert "needs --output" in tdw("statement", *common, "--format", "pdf").stderr
    bad = tdw("statement", *common[:1], "0x12", *common[2:])
    assert bad.returncode == 2
    assert "not an Ethereum address" in bad.stderr
    assert "has no USD token" in tdw("statement", *common, "--currency", "USD").stderr


def test_bench_index_mirrors_every_event_into_both_databases() -> None:
    result = tdw("bench", "index", "--events", "600", "--json")
    assert result.returncode == 0, result.stderr  # the bench raises unless every event was mirrored
    doc = json.loads(result.stdout)
    assert doc["events"] == 600 + 41  # the transfers plus the mints that funded the payers
    for key in ("raw_events_per_s", "sqlite_events_per_s", "postgres_events_per_s"):
        assert doc[key] > 0, key
    assert doc["statement_entries"] == 300 + 1  # every second transfer, plus its mint
    assert doc["statement_0k_s"] > 0


def test_incidents_lists_reorgs_with_what_they_dropped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tdw.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        reorg = Reorg(
            chain_id=1,
            fork_block=7,
            old_head=10,
            old_hash="0x" + "aa" * 32,
            new_hash="0x" + "bb" * 32,
            entries_dropped=2,
            events_dropped=0,
            final_dropped=1,
        )
        session.add(reorg)
        session.flush()
        open_incident(session, IncidentKind.DEEP_REORG, Severity.CRITICAL, "deep", reorg_id=reorg.id)
        open_incident(session, IncidentKind.REORG, Severity.WARNING, "shallow", resolved_by="indexer")
    engine.dispose()
    listed = tdw("incidents", "--json", "--db", url)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["kind"], r["resolved_by"]) for r in rows] == [("reorg", "indexer"), ("deep_reorg", None)]
    assert rows[1]["reorg"]["depth"] == 3
    assert rows[1]["reorg"]["final_dropped"] == 1
    only_open = tdw("incidents", "--open", "--db", url)
    assert only_open.returncode == 0
    assert "deep_reorg" in only_open.stdout
    assert "shallow" not in only_open.stdout


def test_bench_screening_prints_the_fuzzy_and_the_exact_rates() -> None:
    run = tdw("bench", "screening", "--entries", "2000", "--queries", "100", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["entries"] == 2000
    assert result["names_indexed"] >= 2000
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["names_per_s"] > 0
    assert result["exact_lookup_per_s"] > 0
    # Every listed name's variant (a typo, another order, a dropped middle name) is found.
    assert result["queries_with_a_match"] >= result["queries_of_listed_names"]


def test_bench_monitoring_runs_the_typologies_over_a_mirror_and_a_steady_flow_beside_the_indexer() -> None:
    run = tdw(
        "bench", "monitoring", "--entries", "5000", "--samples", "3", "--index-events", "500",
        "--flow-seconds", "2", "--flow-rate", "4", "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert 4000 <= result["entries"] <= 7000
    assert result["alerts"] > 0  # the planted cases are in the mirror
    assert result["backfill_entries_per_s"] > 0
    assert result["indexer_events_per_s"] > 0
    assert result["samples"] == 3
    assert 0 < result["trace_3_hops_ms"]["p50"] <= result["trace_3_hops_ms"]["max"]
    # Every transfer of the steady flow was alerted (the bench fails otherwise), each after its block.
    flow = result["block_to_alert_ms"]
    assert flow["transfers"] == 8
    assert 0 < flow["p50"] <= flow["p95"] <= flow["max"]
