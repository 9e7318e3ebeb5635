"""The incident list over HTTP: staff read it, operators and admins resolve, customers see nothing, and
bad input is a problem that changes nothing. Opening one announces it to operators' webhooks."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.support.api_bank import ApiBank, User
from wallet.bank.events import EVENT_TYPES
from wallet.db.models import Event
from wallet.incidents import open_incident
from wallet.vocabulary import IncidentKind, Severity


def _open(bank: ApiBank, summary: str) -> int:
    with bank.services.bank.sessions.begin() as session:
        return open_incident(session, IncidentKind.FEE_CAP, Severity.WARNING, summary).id


def test_staff_list_incidents_and_operators_resolve_them(
    bank: ApiBank, operator: User, compliance: User, customer: User
) -> None:
    summary = f"fee cap {uuid.uuid4().hex}"
    incident_id = _open(bank, summary)
    with bank.services.bank.readers() as session:
        announced = list(session.scalars(select(Event.payload).where(Event.type == "incident.opened")))
    assert {
        "incident_id": incident_id,
        "kind": "fee_cap",
        "severity": "warning",
        "summary": summary,
    } in announced
    assert "incident.opened" in EVENT_TYPES  # operators can subscribe to it alone

    for staff in (operator, compliance):
        listed = bank.client.get("/v1/operations/incidents", params={"open": "true"}, headers=staff.headers)
        assert listed.status_code == 200, listed.text
        assert incident_id in [i["id"] for i in listed.json()]
    assert bank.client.get("/v1/operations/incidents", headers=customer.headers).status_code == 403

    path = f"/v1/operations/incidents/{incident_id}/resolve"
    for who in (customer, compliance):
        refused = bank.client.post(path, json={"resolution": "raised the cap"}, headers=who.headers)
        assert refused.status_code == 403
    empty = bank.client.post(path, json={"resolution": ""}, headers=operator.headers)
    assert empty.status_code == 422
    assert empty.headers["content-type"].startswith("application/problem+json")
    blank = bank.client.post(path, json={"resolution": "   "}, headers=operator.headers)
    assert blank.status_code == 422
    assert blank.json()["type"].startswith("urn:tdw:problem:")
    still_open = bank.client.get(
        "/v1/operations/incidents", params={"open": "true"}, headers=operator.headers
    )
    assert incident_id in [i["id"] for i in still_open.json()]

    done = bank.client.post(path, json={"resolution": "raised the cap"}, headers=operator.headers)
    assert done.status_code == 200, done.text
    assert (done.json()["resolved_by"], done.json()["resolution"]) == (operator.user_id, "raised the cap")
    again = bank.client.post(path, json={"resolution": "again"}, headers=operator.headers)
    assert again.status_code == 409
    missing = bank.client.post(
        "/v1/operations/incidents/999999999/resolve", json={"resolution": "x"}, headers=operator.headers
    )
    assert missing.status_code == 404


def test_a_webhook_can_subscribe_to_incidents_alone(bank: ApiBank, operator: User) -> None:
    r = bank.client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": ["incident.opened"]},
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["event_types"] == ["incident.opened"]
