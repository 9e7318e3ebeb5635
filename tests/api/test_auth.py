import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pyotp

from tests.support.api_bank import PASSWORD, ApiBank, User

PROBLEM = "application/problem+json"


def test_signup_enrols_totp_and_login_needs_password_and_code(bank: ApiBank) -> None:
    r = bank.client.post("/v1/auth/signup", json={"username": "Dana.Example", "password": PASSWORD})
    assert r.status_code == 201
    body = r.json()
    assert body["role"] == "customer"
    assert body["username"] == "dana.example"
    assert body["totp_uri"].startswith("otpauth://totp/tdw:dana.example?secret=" + body["totp_secret"])
    tokens = bank.login("dana.example", PASSWORD, pyotp.TOTP(body["totp_secret"]).now())
    assert tokens.status_code == 200
    assert tokens.json()["token_type"] == "bearer"
    assert tokens.json()["role"] == "customer"
    me = bank.client.get("/v1/me", headers={"Authorization": "Bearer " + tokens.json()["access_token"]})
    assert me.json()["username"] == "dana.example"
    assert me.json()["role"] == "customer"


def test_signup_with_a_taken_username_is_a_conflict(bank: ApiBank, customer: User) -> None:
    r = bank.client.post("/v1/auth/signup", json={"username": customer.username, "password": PASSWORD})
    assert r.status_code == 409
    assert r.json()["type"] == "urn:tdw:problem:conflict"


def test_signup_refuses_a_short_password(bank: ApiBank) -> None:
    r = bank.client.post("/v1/auth/signup", json={"username": "shorty", "password": "short"})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM


def test_login_fails_with_a_wrong_password_a_wrong_code_or_a_used_code(bank: ApiBank, customer: User) -> None:
    code = pyotp.TOTP(customer.secret).at(time.time() + 30)
    wrong_password = bank.login(customer.username, "not the password", code)
    assert wrong_password.status_code == 401
    assert wrong_password.json()["type"] == "urn:tdw:problem:authentication"
    assert wrong_password.headers["www-authenticate"] == "Bearer"
    assert bank.login(customer.username, PASSWORD, "000000").status_code == 401
    # The code of the login in the fixture was used: it cannot log in again.
    assert bank.login(customer.username, PASSWORD, pyotp.TOTP(customer.secret).now()).status_code == 401


def test_a_code_in_another_scripts_digits_is_a_401_not_a_500(bank: ApiBank, customer: User) -> None:
    # str.isdigit() takes Arabic-Indic digits too; hmac.compare_digest then refused to compare them.
    code = pyotp.TOTP(customer.secret).at(time.time() + 30)
    arabic_indic = code.translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    )
    r = bank.login(customer.username, PASSWORD, arabic_indic)
    assert r.status_code == 401
    assert r.json()["type"] == "urn:tdw:problem:authentication"


def test_repeated_failures_lock_the_user_out_even_with_the_right_password(
    bank: ApiBank, customer: User
) -> None:
    for _ in range(3):  # the test bank locks after 3
        assert bank.login(customer.username, "wrong password!", "123456").status_code == 401
    locked = bank.login(customer.username, PASSWORD, customer.code())
    assert locked.status_code == 423
    assert locked.json()["type"] == "urn:tdw:problem:account-locked"
    assert "locked_until" in locked.json()


def test_unknown_users_fail_like_wrong_passwords(bank: ApiBank) -> None:
    r = bank.login("nobody-here", PASSWORD, "123456")
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong username, password or TOTP code"


def test_a_refresh_token_works_once(bank: ApiBank, customer: User) -> None:
    first = bank.client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": customer.refresh_token}
    )
    assert first.status_code == 200
    assert (
        bank.client.get(
            "/v1/me", headers={"Authorization": "Bearer " + first.json()["access_token"]}
        ).status_code
        == 200
    )
    again = bank.client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": customer.refresh_token}
    )
    assert again.status_code == 401


def test_a_replayed_refresh_token_revokes_its_whole_family(bank: ApiBank, customer: User) -> None:
    def refresh(token: str) -> Any:
        return bank.client.post(
            "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
        )

    # Another login of the same user is another family, and is not touched.
    other_login = bank.login(customer.username, PASSWORD, customer.code()).json()["refresh_token"]
    successor = refresh(customer.refresh_token)
    assert successor.status_code == 200
    # The first token again: someone else holds it. Its successor stops working too.
    assert refresh(customer.refresh_token).status_code == 401
    assert refresh(successor.json()["refresh_token"]).status_code == 401
    assert refresh(other_login).status_code == 200


def test_a_revoked_refresh_token_cannot_be_used(bank: ApiBank, customer: User) -> None:
    assert (
        bank.client.post("/v1/auth/revoke", json={"refresh_token": customer.refresh_token}).status_code == 204
    )
    r = bank.client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": customer.refresh_token}
    )
    assert r.status_code == 401


def test_requests_without_a_valid_token_are_unauthenticated(bank: ApiBank, customer: User) -> None:
    assert bank.client.get("/v1/me").status_code == 401
    assert bank.client.get("/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    forged = jwt.encode(
        {"sub": customer.user_id, "role": "admin", "iss": "tdw", "iat": 0, "exp": 2**33},
        "another secret, long enough for HS256",
    )
    assert bank.client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    secret = bank.services.users._token_secret.get_secret_value()
    now = datetime.now(UTC)
    expired = jwt.encode(
        {
            "sub": customer.user_id,
            "role": "customer",
            "iss": "tdw",
            "iat": int((now - timedelta(hours=2)).timestamp()),
            "exp": int((now - timedelta(hours=1)).timestamp()),
        },
        secret,
    )
    r = bank.client.get("/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


def test_only_an_admin_creates_staff_users(
    bank: ApiBank, customer: User, operator: User, admin: User
) -> None:
    body = {"username": "new-operator-x", "password": PASSWORD, "role": "operator"}
    for user in (customer, operator):
        r = bank.client.post("/v1/admin/users", json=body, headers=user.headers)
        assert r.status_code == 403
        assert r.json()["type"] == "urn:tdw:problem:permission-denied"
    created = bank.client.post("/v1/admin/users", json=body, headers=admin.headers)
    assert created.status_code == 201
    assert created.json()["role"] == "operator"
