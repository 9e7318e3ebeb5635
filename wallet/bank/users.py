"""Users of the API and how they prove who they are.

Passwords are argon2id hashes (argon2-cffi). Every user enrols a TOTP second factor (pyotp) at creation;
its secret is sealed under the key-encryption key, like a signing key. A login needs the password and a
TOTP code; a code is accepted once (its time step is remembered), so an observed code cannot be
replayed. A password is 12 to 128 characters and not one of the 20,000 most common (the list Django
ships, `common-passwords.txt.gz`).

Failed logins are counted per username as typed and client address, not per user: after a few, that
address waits a growing delay before its next try for that name, and after many it is locked out of
that name for a while (429 with `Retry-After`). The owner logging in from elsewhere is not slowed by a
stranger's failures, and a name nobody has is throttled exactly like a real one.

Access tokens are short-lived JWTs (HS256 under `TDW_TOKEN_SECRET`) naming the user, role and token
version; the version is checked on every request, so logout, a replayed refresh token, a role change or
a disablement ends the access tokens issued before. Refresh tokens are opaque, stored as their SHA-256,
and used once: refreshing returns a new pair.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.engine import readonly
from wallet.db.models import USER_ROLES, LoginThrottle, RefreshToken, User, aware
from wallet.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    LoginThrottledError,
    NotFoundError,
    PermissionDeniedError,
    TotpRequiredError,
)
from wallet.keys.keystore import KeyEncryptionKey
from wallet.vocabulary import Role

log = logging.getLogger(__name__)
STAFF_ROLES = (Role.OPERATOR, Role.COMPLIANCE, Role.ADMIN)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")
TOTP_ISSUER = "tdw"
JWT_ALGORITHM = "HS256"
PASSWORD_LENGTH = (12, 128)
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")
LOGIN_FAILED = "wrong username, password or TOTP code"


@dataclass(frozen=True)
class Principal:
    """Who is calling: established from an access token."""

    user_id: str
    username: str
    role: Role

    @property
    def is_staff(self) -> bool:
        """Bank staff may read any account; only customers move their own money."""
        return self.role in STAFF_ROLES

    def require(self, *roles: Role) -> None:
        """Raises `PermissionDeniedError` unless the principal has one of `roles`."""
        if self.role not in roles:
            raise PermissionDeniedError(f"this needs the role {' or '.join(roles)}; you are {self.role}")


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is valid
    role: Role


@dataclass(frozen=True)
class Enrolment:
    """A new user and their TOTP enrolment; the secret is shown once."""

    user_id: str
    username: str
    role: Role
    totp_secret: str
    totp_uri: str


@dataclass(frozen=True)
class AuthConfig:
    """Token lifetimes and the login throttle: per username and client address, `free_failures` fail
    freely, each further one doubles the wait before the next try (1 s, 2 s, 4 s, ... up to
    `lockout`), and `max_failed_logins` lock that address out of that name for `lockout`."""

    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    free_failures: int = 3
    max_failed_logins: int = 10
    lockout: timedelta = timedelta(minutes=15)

    def wait_after(self, failures: int) -> timedelta:
        """How long an address waits after its `failures`-th failure for one name."""
        if failures >= self.max_failed_logins:
            return self.lockout
        if failures < self.free_failures:
            return timedelta(0)
        return min(timedelta(seconds=2 ** (failures - self.free_failures)), self.lockout)


class UserService:
    """Creates users, logs them in, and turns access tokens back into principals."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kek: SecretStr,
        token_secret: SecretStr,
        config: AuthConfig | None = None,
        *,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._sessions = sessions
        self._readers = readonly(sessions)
        self._kek = KeyEncryptionKey(kek)
        self._token_secret = token_secret
        self.config = config or AuthConfig()
        self._hasher = hasher or PasswordHasher()
        # Verified against when the username is unknown, so both failures take the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------------------ enrolment ---

    def create(
        self,
        username: str,
        password: str,
        role: Role = Role.CUSTOMER,
        *,
        totp_secret: str | None = None,
        full_name: str | None = None,
    ) -> Enrolment:
        """Creates a user with a fresh TOTP secret (or `totp_secret`, for seeding a demo). `full_name`
        is what statements print for them."""
        username = username.strip().lower()
        if full_name is not None:
            full_name = " ".join(full_name.split())
            if not full_name or len(full_name) > 140 or not full_name.isprintable():
                raise InvalidRequestError("a full name is 1 to 140 printable characters")
        if not USERNAME.match(username):
            raise InvalidRequestError(
                "a username is 3 to 64 characters: lower-case letters, digits, '.', '_', '@' or '-'"
            )
        check_password(password, username)
        if role not in USER_ROLES:
            raise InvalidRequestError(f"the role must be one of {', '.join(USER_ROLES)}, not {role!r}")
        secret = totp_secret or pyotp.random_base32()
        user_id = uuid.uuid4().hex
        wrapped, nonce = self._kek.wrap(secret.encode(), f"totp:{user_id}")
        user = User(
            id=user_id,
            username=username,
            password_hash=self._hasher.hash(password),
            role=role,
            totp_wrapped=wrapped,
            totp_nonce=nonce,
            totp_confirmed=False,
            totp_last_step=0,
            token_version=0,
            full_name=full_name,
        )
        try:
            with self._sessions.begin() as session:
                session.add(user)
        except IntegrityError:
            raise ConflictError(f"the username {username!r} is taken") from None
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
        return Enrolment(user_id=user_id, username=username, role=role, totp_secret=secret, totp_uri=uri)

    def get(self, user_id: str) -> User:
        """The user with `user_id`."""
        with self._readers() as session:
            user = session.get(User, user_id)
        if user is None:
            raise NotFoundError("user", user_id)
        return user

    def by_username(self, username: str) -> User | None:
        """The user called `username`, if any."""
        with self._readers() as session:
            return session.scalars(select(User).where(User.username == username.strip().lower())).first()

    # ---------------------------------------------------------------------------------- login ---

    def login(
        self,
        username: str,
        password: str,
        totp_code: str,
        *,
        client: str = "unknown",
        now: datetime | None = None,
    ) -> TokenPair:
        """Checks password and TOTP code and returns a token pair. `client` is the caller's address:
        failures are counted per (username, client), and a throttled pair is refused before anything
        is checked (`LoginThrottledError`)."""
        now = now or datetime.now(UTC)
        name = username.strip().lower()[:128]
        client = client[:64]
        self._check_throttle(name, client, now)
        user = self.by_username(name)
        if user is None or user.disabled_at is not None:
            self._verify_password(self._dummy_hash, password)  # the same time as a real user's check
            self._failed(name, client, now)
            raise AuthenticationError(LOGIN_FAILED)
        password_ok = self._verify_password(user.password_hash, password)
        step = self._totp_step(user, totp_code, now) if password_ok else None
        if step is None:
            self._failed(name, client, now)
            raise AuthenticationError(LOGIN_FAILED)
        with self._sessions.begin() as session:
            # Conditional on the step, so two logins racing with one code cannot both succeed.
            used = session.execute(
                update(User)
                .where(User.id == user.id, User.totp_last_step < step)
                .values(totp_last_step=step, totp_confirmed=True)
            ).rowcount  # type: ignore[attr-defined]
            if used:
                session.execute(
                    delete(LoginThrottle).where(
                        LoginThrottle.username == name, LoginThrottle.client == client
                    )
                )
        if not used:
            self._failed(name, client, now)
            raise AuthenticationError("this TOTP code was used already; wait for the next one")
        if self._hasher.check_needs_rehash(user.password_hash):
            with self._sessions.begin() as session:
                session.execute(
                    update(User).where(User.id == user.id).values(password_hash=self._hasher.hash(password))
                )
        return self._issue(user, now)

    def refresh(self, refresh_token: str, *, now: datetime | None = None) -> TokenPair:
        """Exchanges a refresh token (once) for a new token pair of the same family. A token that was
        used already is a replay (two parties hold it): its whole family is revoked, so the successor
        the thief or the user got stops working too (RFC 6819 5.2.2.3)."""
        now = now or datetime.now(UTC)
        digest = _token_hash(refresh_token)
        with self._sessions.begin() as session:
            row = session.get(RefreshToken, digest)
            if row is None or row.revoked_at is not None or aware(row.expires_at) <= now:
                raise AuthenticationError("the refresh token is unknown, used or expired")
            claimed = session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == digest, RefreshToken.used_at.is_(None))
                .values(used_at=now)
            ).rowcount  # type: ignore[attr-defined]
            family, user_id = row.family_id, row.user_id
            user = session.get(User, user_id) if claimed else None
        if not claimed:
            # Outside the claim's transaction: raising inside it would roll the revocation back. The
            # access tokens of the user die too: one of them may be the thief's.
            self._revoke_family(family, user_id, now)
            log.warning("refresh token of user %s replayed; its family was revoked", user_id)
            raise AuthenticationError("the refresh token is unknown, used or expired")
        if user is None or user.disabled_at is not None:
            raise AuthenticationError("the refresh token is unknown, used or expired")
        return self._issue(user, now, family=family)

    def _revoke_family(self, family_id: str, user_id: str, now: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            _bump_token_version(session, user_id)

    def revoke(self, refresh_token: str) -> None:
        """Logout: the refresh token's whole family is revoked and the user's access tokens end.
        Unknown tokens are ignored (a logout never tells whether a token existed)."""
        now = datetime.now(UTC)
        with self._readers() as session:
            row = session.get(RefreshToken, _token_hash(refresh_token))
        if row is not None:
            self._revoke_family(row.family_id, row.user_id, now)

    def update(
        self, principal: Principal, user_id: str, *, role: Role | None = None, disabled: bool | None = None
    ) -> User:
        """An administrator changes a user's role or disables (enables) them; either ends the user's
        access tokens at once, and disabling revokes their refresh tokens. Nobody changes themself,
        so the last administrator cannot lock the bank out by mistake."""
        principal.require(Role.ADMIN)
        if user_id == principal.user_id:
            raise PermissionDeniedError("administrators cannot change their own role or disable themselves")
        if role is not None and role not in USER_ROLES:
            raise InvalidRequestError(f"the role must be one of {', '.join(USER_ROLES)}, not {role!r}")
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError("user", user_id)
            if role is not None:
                user.role = role
            if disabled is not None:
                user.disabled_at = now if disabled else None
                if disabled:
                    session.execute(
                        update(RefreshToken)
                        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now)
                    )
            user.token_version += 1
        log.warning("user %s changed by %s: role=%s disabled=%s", user_id, principal.user_id, role, disabled)
        return self.get(user_id)

    def authenticate(self, access_token: str) -> Principal:
        """The principal of a valid access token; `AuthenticationError` otherwise."""
        try:
            claims = jwt.decode(
                access_token,
                self._token_secret.get_secret_value(),
                algorithms=[JWT_ALGORITHM],
                issuer=TOTP_ISSUER,
                options={"require": ["exp", "iat", "sub", "role", "ver"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the access token has expired; refresh it") from None
        except jwt.PyJWTError:
            raise AuthenticationError("the access token is not valid") from None
        if claims["role"] not in USER_ROLES:
            raise AuthenticationError("the access token is not valid")
        with self._readers() as session:
            current = session.execute(
                select(User.token_version, User.role, User.disabled_at).where(User.id == claims["sub"])
            ).first()
        if (
            current is None
            or current.disabled_at is not None
            or current.token_version != claims["ver"]
            or current.role != claims["role"]
        ):
            raise AuthenticationError("the access token was revoked; log in again")
        return Principal(user_id=claims["sub"], username=claims.get("name", ""), role=claims["role"])

    def check_fresh_totp(self, user_id: str, code: str | None, *, now: datetime | None = None) -> None:
        """Consumes a fresh TOTP code of `user_id` (step-up for large transfers); raises
        `TotpRequiredError` when it is missing, wrong or used already."""
        if not code:
            raise TotpRequiredError("this operation needs a fresh TOTP code in the 'totp' field")
        now = now or datetime.now(UTC)
        user = self.get(user_id)
        step = self._totp_step(user, code, now)
        if step is None:
            raise TotpRequiredError("the TOTP code is wrong or expired")
        with self._sessions.begin() as session:
            used = session.execute(
                update(User).where(User.id == user_id, User.totp_last_step < step).values(totp_last_step=step)
            ).rowcount  # type: ignore[attr-defined]
        if not used:
            raise TotpRequiredError("this TOTP code was used already; wait for the next one")

    def tag(self, purpose: str, value: str) -> str:
        """An HMAC of `value` for `purpose` under the token secret: what the browser screens bind their
        anti-forgery tokens to (a random cookie value), so that only this bank can make one."""
        key = self._token_secret.get_secret_value().encode()
        return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def totp_code(self, user_id: str, *, at: datetime | None = None) -> str:
        """The current TOTP code of a user. For the development seeding and tests only: in production
        the code comes from the user's authenticator."""
        return pyotp.TOTP(self._totp_secret(self.get(user_id))).at(at or datetime.now(UTC))

    # -------------------------------------------------------------------------------- helpers ---

    def _verify_password(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _totp_secret(self, user: User) -> str:
        return self._kek.unwrap(user.totp_wrapped, user.totp_nonce, f"totp:{user.id}").decode()

    def _totp_step(self, user: User, code: str, now: datetime) -> int | None:
        """The time step (now, or one either side for clock drift) whose code is `code`, if it is newer
        than the last one accepted."""
        # ASCII digits only: str.isdigit() also takes other scripts' digits, which hmac refuses to compare.
        if not isinstance(code, str) or not code.isascii() or not code.isdigit():
            return None
        totp = pyotp.TOTP(self._totp_secret(user))
        current = totp.timecode(now)
        for step in (current, current - 1, current + 1):
            if step > user.totp_last_step and hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def _check_throttle(self, name: str, client: str, now: datetime) -> None:
        with self._readers() as session:
            row = session.get(LoginThrottle, (name, client))
        if row is not None and row.retry_at is not None and aware(row.retry_at) > now:
            raise LoginThrottledError(max(1, int((aware(row.retry_at) - now).total_seconds() + 0.999)))

    def _failed(self, name: str, client: str, now: datetime) -> None:
        """Counts a failure of `client` for `name` and sets when it may try again."""
        with self._sessions.begin() as session:
            row = session.get(LoginThrottle, (name, client), with_for_update=True)
            if row is None or aware(row.updated_at) < now - self.config.lockout:
                if row is not None:  # quiet for a whole lockout period: it starts afresh
                    session.delete(row)
                    session.flush()
                row = LoginThrottle(username=name, client=client, failures=0, updated_at=now)
                session.add(row)
            row.failures += 1
            row.updated_at = now
            wait = self.config.wait_after(row.failures)
            row.retry_at = now + wait if wait else None
            if row.failures >= self.config.max_failed_logins:
                row.failures = 0  # after the lockout, the count starts again
            # Forget throttles nobody touched for a day, so random names do not pile up.
            session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < now - timedelta(days=1)))
        if wait:
            log.warning("logins for %r from %s throttled for %s", name, client, wait)

    def _issue(self, user: User, now: datetime, *, family: str | None = None) -> TokenPair:
        """A new access token and refresh token; the refresh token starts a family (a login) or
        continues `family` (a refresh)."""
        claims = {
            "sub": user.id,
            "name": user.username,
            "role": user.role,
            "ver": user.token_version,
            "iss": TOTP_ISSUER,
            "iat": int(now.timestamp()),
            "exp": int((now + self.config.access_ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        access = jwt.encode(claims, self._token_secret.get_secret_value(), algorithm=JWT_ALGORITHM)
        refresh = secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            session.add(
                RefreshToken(
                    token_hash=_token_hash(refresh),
                    user_id=user.id,
                    family_id=family or uuid.uuid4().hex,
                    expires_at=now + self.config.refresh_ttl,
                )
            )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.config.access_ttl.total_seconds()),
            role=user.role,
        )


def check_password(password: str, username: str = "") -> None:
    """Raises `InvalidRequestError` for a password that is too short or too long, one of the most
    common passwords, or the username itself."""
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise InvalidRequestError(f"a password is {low} to {high} characters")
    folded = password.strip().lower()
    if folded in common_passwords() or (username and folded == username.lower()):
        raise InvalidRequestError("this password is too common (or is the username); choose another")


@cache
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords, lower-cased (Royce Williams' list, as Django ships it)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines)


def _bump_token_version(session: Session, user_id: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(token_version=User.token_version + 1))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
