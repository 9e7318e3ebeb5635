"""Dependency aliases for the routes: the bank's services, the calling principal, the idempotency key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer

from wallet.bank.runtime import Services
from wallet.bank.users import Principal
from wallet.errors import AuthenticationError, InvalidRequestError

oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


def get_services(request: Request) -> Services:
    """The services the app was created with."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy, uvicorn's `--forwarded-allow-ips` makes it the client's)."""
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


def limit_client(services: ServicesDep, client: ClientAddress) -> None:
    """Every request counts against its client address's limit (429 over it)."""
    services.limits.hit("client", client)


def get_principal(services: ServicesDep, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The caller, from the bearer token; counts against the user's own request limit."""
    if not token:
        raise AuthenticationError("this needs a bearer access token (POST /v1/auth/token)")
    principal = services.users.authenticate(token)
    services.limits.hit("user", principal.user_id)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="A unique key per request (a UUID, say). Repeating it with the same body returns "
            "the original result; with a different body it is a 409.",
        ),
    ] = None,
) -> str:
    """The `Idempotency-Key` header, required on every request that moves money."""
    if idempotency_key is None or not idempotency_key.strip():
        raise InvalidRequestError("this request moves money and needs an Idempotency-Key header")
    return idempotency_key


IdempotencyKey = Annotated[str, Depends(get_idempotency_key)]
