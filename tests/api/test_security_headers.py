"""Security headers on the API's answers, and the docs switched off for production."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from tests.support.api_bank import PASSWORD, ApiBank, User


def test_every_answer_says_nosniff_and_no_referrer_and_v1_is_never_stored(
    bank: ApiBank, customer: User
) -> None:
    me = bank.client.get("/v1/me", headers=customer.headers)
    refused = bank.client.get("/v1/me")
    token = bank.login(customer.username, PASSWORD, customer.code())
    for r in (me, refused, token):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
    assert token.status_code == 200
    assert "strict-transport-security" not in me.headers  # plain HTTP here
    docs = bank.client.get("/openapi.json")
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in docs.headers


def test_hsts_is_sent_over_https(bank: ApiBank, customer: User) -> None:
    with TestClient(create_app(bank.services), base_url="https://bank.example") as client:
        r = client.get("/v1/me", headers=customer.headers)
    assert r.status_code == 200
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_without_docs_there_is_no_openapi_document_nor_docs_page(bank: ApiBank, customer: User) -> None:
    with TestClient(create_app(bank.services, docs=False)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404
        assert client.get("/v1/me", headers=customer.headers).status_code == 200
