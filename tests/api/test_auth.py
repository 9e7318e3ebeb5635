import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pyotp
import pytest
from fastapi.testclient import TestClient

from tests.support.api_bank import PASSWORD, ApiBank, User
from wallet.bank.ratelimits import RateLimitConfig, RateLimits
from wallet.errors import AuthenticationError, LoginThrottledError

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


def _from(bank: ApiBank, address: str) -> TestClient:
    return TestClient(bank.client.app, client=(address, 40000), raise_server_exceptions=False)


def _login_from(client: TestClient, username: str, password: str, code: str) -> Any:
    return client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": username, "password": password, "totp": code},
    )


def test_a_strangers_failures_throttle_the_stranger_and_not_the_owner(bank: ApiBank, customer: User) -> None:
    """An anonymous attacker once kept a victim locked out by failing three times per period. Failures
    now count per (name, address): the attacker's address waits, the owner elsewhere does not."""
    attacker = _from(bank, "203.0.113.66")
    for _ in range(3):  # three fail freely
        assert _login_from(attacker, customer.username, "wrong password!", "123456").status_code == 401
    throttled = _login_from(attacker, customer.username, PASSWORD, customer.code())
    assert throttled.status_code == 429
    assert throttled.json()["type"] == "urn:tdw:problem:login-throttled"
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["retry_after"] == int(throttled.headers["retry-after"])
    # The owner, from their own address, logs in at once with the right credentials.
    assert bank.login(customer.username, PASSWORD, customer.code()).status_code == 200


def test_unknown_and_known_names_answer_alike_when_failing_and_when_throttled(
    bank: ApiBank, customer: User
) -> None:
    answers = []
    for name in (customer.username, "nobody-here"):
        client = _from(bank, "198.51.100.7")
        failures = [_login_from(client, name, "wrong password!", "123456") for _ in range(3)]
        throttled = _login_from(client, name, "wrong password!", "123456")
        answers.append(
            [(r.status_code, r.json()["type"], r.json()["detail"]) for r in failures]
            + [(throttled.status_code, throttled.json()["type"], throttled.headers["retry-after"])]
        )
    assert answers[0] == answers[1]
    assert answers[0][0] == (401, "urn:tdw:problem:authentication", "wrong username, password or TOTP code")
    assert answers[0][-1][:2] == (429, "urn:tdw:problem:login-throttled")


def test_the_throttle_grows_then_locks_only_that_address_out_of_that_name(
    bank: ApiBank, customer: User
) -> None:
    users, config = bank.services.users, bank.services.users.config
    now = datetime.now(UTC) + timedelta(days=3)  # clear of every other test's throttles
    waits = []
    for _ in range(config.max_failed_logins):
        with pytest.raises(AuthenticationError) as failed:
            users.login(customer.username, "wrong password!", "123456", client="192.0.2.1", now=now)
        assert not isinstance(failed.value, LoginThrottledError)
        try:  # would the next try, at once, be refused?
            users._check_throttle(customer.username, "192.0.2.1", now)
        except LoginThrottledError as throttled:
            waits.append(throttled.retry_after)
            now += timedelta(seconds=throttled.retry_after)
    assert waits == [1, 2, 4, 8, 16, 32, 64, int(config.lockout.total_seconds())]
    # Locked out even with the right credentials, but of this name only.
    code = pyotp.TOTP(customer.secret).at(now)
    with pytest.raises(LoginThrottledError):
        users.login(customer.username, PASSWORD, code, client="192.0.2.1", now=now - timedelta(seconds=1))
    with pytest.raises(AuthenticationError) as other_name:
        users.login("someone-else", "wrong password!", "123456", client="192.0.2.1", now=now)
    assert not isinstance(other_name.value, LoginThrottledError)


def test_unknown_users_fail_like_wrong_passwords(bank: ApiBank) -> None:
    r = bank.login("nobody-here", PASSWORD, "123456")
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong username, password or TOTP code"


def test_passwords_are_12_characters_and_not_common(bank: ApiBank) -> None:
    for password, why in [
        ("elevenchars", "at least 12 characters"),
        ("qwerty123456", "too common"),
        ("1q2w3e4r5t6y", "too common"),
        ("password-user", "the username"),
    ]:
        r = bank.client.post("/v1/auth/signup", json={"username": "password-user", "password": password})
        assert r.status_code == 422, password
        assert why in r.json()["detail"], r.json()
    ok = bank.client.post("/v1/auth/signup", json={"username": "password-user", "password": PASSWORD})
    assert ok.status_code == 201


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
        {"sub": customer.user_id, "role": "admin", "ver": 0, "iss": "tdw", "iat": 0, "exp": 2**33},
        "another secret, long enough for HS256",
    )
    assert bank.client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    secret = bank.services.users._token_secret.get_secret_value()
    now = datetime.now(UTC)
    expired = jwt.encode(
        {
            "sub": customer.user_id,
            "role": "customer",
            "ver": 0,
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


def _me(bank: ApiBank, user: User) -> int:
    return int(bank.client.get("/v1/me", headers=user.headers).status_code)


def test_logout_ends_the_access_tokens_too(bank: ApiBank, customer: User) -> None:
    assert _me(bank, customer) == 200
    assert (
        bank.client.post("/v1/auth/revoke", json={"refresh_token": customer.refresh_token}).status_code == 204
    )
    r = bank.client.get("/v1/me", headers=customer.headers)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def test_a_replayed_refresh_token_ends_the_access_tokens(bank: ApiBank, customer: User) -> None:
    def refresh(token: str) -> Any:
        return bank.client.post(
            "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
        )

    thief = refresh(customer.refresh_token).json()["access_token"]
    assert bank.client.get("/v1/me", headers={"Authorization": f"Bearer {thief}"}).status_code == 200
    assert refresh(customer.refresh_token).status_code == 401  # the owner replays: compromise seen
    assert bank.client.get("/v1/me", headers={"Authorization": f"Bearer {thief}"}).status_code == 401


def test_disabling_or_a_role_change_ends_the_users_tokens_at_once(bank: ApiBank, admin: User) -> None:
    operator, customer = bank.signup("operator"), bank.signup("customer")  # changed here: not shared
    assert _me(bank, operator) == 200
    r = bank.client.patch(
        f"/v1/admin/users/{operator.user_id}", json={"role": "compliance"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "compliance"
    assert _me(bank, operator) == 401
    r = bank.client.patch(
        f"/v1/admin/users/{customer.user_id}", json={"disabled": True}, headers=admin.headers
    )
    assert r.json()["disabled"] is True
    assert _me(bank, customer) == 401
    # A disabled user's right credentials answer like wrong ones, and refreshing fails.
    login = bank.login(customer.username, PASSWORD, customer.code())
    assert (login.status_code, login.json()["detail"]) == (401, "wrong username, password or TOTP code")
    refresh = bank.client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": customer.refresh_token}
    )
    assert refresh.status_code == 401


def test_only_an_admin_changes_users_and_never_themself(
    bank: ApiBank, customer: User, operator: User, admin: User
) -> None:
    for user in (customer, operator):
        r = bank.client.patch(
            f"/v1/admin/users/{customer.user_id}", json={"disabled": True}, headers=user.headers
        )
        assert r.status_code == 403
    r = bank.client.patch(
        f"/v1/admin/users/{admin.user_id}", json={"role": "customer"}, headers=admin.headers
    )
    assert r.status_code == 403
    assert _me(bank, admin) == 200
    assert _me(bank, customer) == 200


@pytest.fixture
def production_limits(bank: ApiBank) -> Any:
    """The default limits for the length of one test (the test bank's are far away for polling)."""
    relaxed = bank.services.limits
    bank.services.limits = RateLimits(RateLimitConfig())
    yield bank.services.limits.config.limits
    bank.services.limits = relaxed


def test_a_user_over_their_request_limit_gets_429_with_retry_after(
    bank: ApiBank, customer: User, operator: User, production_limits: dict[str, str]
) -> None:
    assert production_limits["user"] == "120/minute"
    answers = [bank.client.get("/v1/me", headers=customer.headers).status_code for _ in range(150)]
    assert answers[:120] == [200] * 120
    assert set(answers[120:]) == {429}
    r = bank.client.get("/v1/me", headers=customer.headers)
    assert r.json()["type"] == "urn:tdw:problem:rate-limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert _me(bank, operator) == 200  # another user is not limited by this one


def test_sign_ups_from_one_address_are_limited(bank: ApiBank, production_limits: dict[str, str]) -> None:
    assert production_limits["signup"] == "10/hour"
    client = _from(bank, "203.0.113.15")
    answers = [
        client.post("/v1/auth/signup", json={"username": f"many-{n}", "password": PASSWORD}).status_code
        for n in range(15)
    ]
    assert answers == [201] * 10 + [429] * 5
    assert (
        _from(bank, "203.0.113.16")
        .post("/v1/auth/signup", json={"username": "many-else", "password": PASSWORD})
        .status_code
        == 201
    )


def test_every_request_from_one_address_is_limited(bank: ApiBank) -> None:
    relaxed = bank.services.limits
    bank.services.limits = RateLimits(RateLimitConfig(limits={"client": "20/minute"}))
    try:
        client = _from(bank, "203.0.113.20")
        answers = [client.get("/healthz").status_code for _ in range(25)]
        assert answers == [200] * 20 + [429] * 5
        assert _from(bank, "203.0.113.21").get("/healthz").status_code == 200
    finally:
        bank.services.limits = relaxed


def test_forty_failed_logins_end_in_429s(bank: ApiBank, customer: User) -> None:
    client = _from(bank, "203.0.113.40")
    answers = [
        _login_from(client, customer.username, "wrong password!", "123456").status_code for _ in range(40)
    ]
    assert answers[:3] == [401, 401, 401]
    assert answers.count(429) >= 35
