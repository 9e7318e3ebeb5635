"""Sign-up, login (password and TOTP), token refresh and logout; staff users for the admin."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Response, status

from api.deps import ClientAddress, CurrentPrincipal, ServicesDep
from api.schemas import (
    EnrolmentOut,
    RevokeRequest,
    SignupRequest,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from wallet.bank.users import Enrolment, TokenPair
from wallet.db.models import User
from wallet.errors import InvalidRequestError
from wallet.vocabulary import Role

router = APIRouter(prefix="/v1", tags=["auth"])


def _enrolment(e: Enrolment) -> EnrolmentOut:
    return EnrolmentOut(
        user_id=e.user_id, username=e.username, role=e.role, totp_secret=e.totp_secret, totp_uri=e.totp_uri
    )


def _tokens(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        role=pair.role,
    )


@router.post("/auth/signup", status_code=status.HTTP_201_CREATED, response_model=EnrolmentOut)
def signup(body: SignupRequest, services: ServicesDep, client: ClientAddress) -> EnrolmentOut:
    """Creates a customer and enrols their TOTP second factor: add the returned secret (or the
    otpauth URI as a QR code) to an authenticator; every login needs a code from it. Sign-ups per
    client address are limited (429)."""
    services.limits.hit("signup", client)
    return _enrolment(
        services.users.create(body.username, body.password, Role.CUSTOMER, full_name=body.full_name)
    )


@router.post("/auth/token", response_model=TokenOut)
def token(
    services: ServicesDep,
    client: ClientAddress,
    grant_type: Annotated[Literal["password", "refresh_token"], Form()],
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=128)] = None,
    totp: Annotated[str | None, Form(max_length=10, description="The current TOTP code")] = None,
    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
) -> TokenOut:
    """OAuth2 token endpoint (form-encoded). `password` grant: username, password and a TOTP code.
    `refresh_token` grant: a refresh token, which is used up and replaced. Failed logins slow down
    further tries for that username from that address (429 with `Retry-After`), for every name alike."""
    if grant_type == "password":
        if not username or not password or not totp:
            raise InvalidRequestError("the password grant needs username, password and totp")
        return _tokens(services.users.login(username, password, totp, client=client))
    if not refresh_token:
        raise InvalidRequestError("the refresh_token grant needs refresh_token")
    return _tokens(services.users.refresh(refresh_token))


@router.post("/auth/revoke", status_code=status.HTTP_204_NO_CONTENT)
def revoke(body: RevokeRequest, services: ServicesDep) -> Response:
    """Logs out: the refresh token's login can no longer be refreshed, and the user's access tokens
    stop working."""
    services.users.revoke(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut)
def me(principal: CurrentPrincipal, services: ServicesDep) -> UserOut:
    """The calling user."""
    user = services.users.get(principal.user_id)
    return _user(user)


def _user(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        created_at=user.created_at,
        disabled=user.disabled_at is not None,
        kyc_status=user.kyc_status if user.role == Role.CUSTOMER else None,
    )


@router.post("/admin/users", status_code=status.HTTP_201_CREATED, response_model=EnrolmentOut, tags=["admin"])
def create_user(body: UserCreate, principal: CurrentPrincipal, services: ServicesDep) -> EnrolmentOut:
    """Creates a user with any role (admin only)."""
    principal.require(Role.ADMIN)
    return _enrolment(
        services.users.create(body.username, body.password, body.role, full_name=body.full_name)
    )


@router.patch("/admin/users/{user_id}", response_model=UserOut, tags=["admin"])
def update_user(
    user_id: str, body: UserUpdate, principal: CurrentPrincipal, services: ServicesDep
) -> UserOut:
    """Changes a user's role or disables them (admin only, never oneself); the user's access tokens stop
    working at once."""
    return _user(services.users.update(principal, user_id, role=body.role, disabled=body.disabled))
