"""Users of the API and how they prove who they are.

Passwords are argon2id hashes (argon2-cffi). Every user enrols a TOTP second factor (pyotp) at creation;
its secret is sealed under the key-encryption key, like a signing key. A login needs the password and a
TOTP code; a code is accepted once (its time step is remembered), so an observed code cannot be
replayed. Repeated failures lock the user out for a while.

Access tokens are short-lived JWTs (HS256 under `TDW_TOKEN_SECRET`) naming the user and role; refresh
tokens are opaque, stored as their SHA-256, and used once: refreshing returns a new pair.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wallet.db.engine import readonly
from wallet.db.models import USER_ROLES, RefreshToken, User
from wallet.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
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
    """Token lifetimes and lockout policy."""

    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    max_failed_logins: int = 5
    lockout: timedelta = timedelta(minutes=15)


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
        self, username: str, password: str, role: Role = Role.CUSTOMER, *, totp_secret: str | None = None
    ) -> Enrolment:
        """Creates a user with a fresh TOTP secret (or `totp_secret`, for seeding a demo)."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidRequestError(
                "a username is 3 to 64 characters: lower-case letters, digits, '.', '_', '@' or '-'"
            )
        if not 10 <= len(password) <= 128:
            raise InvalidRequestError("a password is 10 to 128 characters")
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
            failed_logins=0,
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
        self, username: str, password: str, totp_code: str, *, now: datetime | None = None
    ) -> TokenPair:
        """Checks password and TOTP code and returns a token pair; counts failures and locks out."""
        now = now or datetime.now(UTC)
        user = self.by_username(username)
        if user is None:
            self._verify_password(self._dummy_hash, password)
            raise AuthenticationError("wrong username, password or TOTP code")
        if user.locked_until is not None and _aware(user.locked_until) > now:
            raise AccountLockedError(_aware(user.locked_until).isoformat())
        password_ok = self._verify_password(user.password_hash, password)
        step = self._totp_step(user, totp_code, now) if password_ok else None
        if step is None:
            self._failed(user.id, now)
            raise AuthenticationError("wrong username, password or TOTP code")
        with self._sessions.begin() as session:
            # Conditional on the step, so two logins racing with one code cannot both succeed.
            used = session.execute(
                update(User)
                .where(User.id == user.id, User.totp_last_step < step)
                .values(totp_last_step=step, failed_logins=0, locked_until=None, totp_confirmed=True)
            ).rowcount  # type: ignore[attr-defined]
        if not used:
            self._failed(user.id, now)
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
            if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
                raise AuthenticationError("the refresh token is unknown, used or expired")
            claimed = session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == digest, RefreshToken.used_at.is_(None))
                .values(used_at=now)
            ).rowcount  # type: ignore[attr-defined]
            family, user_id = row.family_id, row.user_id
            user = session.get(User, user_id) if claimed else None
        if not claimed:
            # Outside the claim's transaction: raising inside it would roll the revocation back.
            self._revoke_family(family, now)
            log.warning("refresh token of user %s replayed; its family was revoked", user_id)
            raise AuthenticationError("the refresh token is unknown, used or expired")
        if user is None:
            raise AuthenticationError("the refresh token's user no longer exists")
        if user.locked_until is not None and _aware(user.locked_until) > now:
            raise AccountLockedError(_aware(user.locked_until).isoformat())
        return self._issue(user, now, family=family)

    def _revoke_family(self, family_id: str, now: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    def revoke(self, refresh_token: str) -> None:
        """Marks a refresh token used (logout); unknown tokens are ignored."""
        with self._sessions.begin() as session:
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == _token_hash(refresh_token), RefreshToken.used_at.is_(None))
                .values(used_at=datetime.now(UTC))
            )

    def authenticate(self, access_token: str) -> Principal:
        """The principal of a valid access token; `AuthenticationError` otherwise."""
        try:
            claims = jwt.decode(
                access_token,
                self._token_secret.get_secret_value(),
                algorithms=[JWT_ALGORITHM],
                issuer=TOTP_ISSUER,
                options={"require": ["exp", "iat", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the access token has expired; refresh it") from None
        except jwt.PyJWTError:
            raise AuthenticationError("the access token is not valid") from None
        if claims["role"] not in USER_ROLES:
            raise AuthenticationError("the access token is not valid")
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

    def _failed(self, user_id: str, now: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(User).where(User.id == user_id).values(failed_logins=User.failed_logins + 1)
            )
            user = session.get(User, user_id)
            if user is not None and user.failed_logins >= self.config.max_failed_logins:
                user.locked_until = now + self.config.lockout
                user.failed_logins = 0

    def _issue(self, user: User, now: datetime, *, family: str | None = None) -> TokenPair:
        """A new access token and refresh token; the refresh token starts a family (a login) or
        continues `family` (a refresh)."""
        claims = {
            "sub": user.id,
            "name": user.username,
            "role": user.role,
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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
