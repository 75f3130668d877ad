"""Dependencies injected into routes; tests override them through ``app.dependency_overrides``."""

from __future__ import annotations

import ipaddress
import math
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from server import auth
from server.service import Service
from server.settings import LOOPBACK, Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_service(request: Request) -> Service:
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(503, "the model is still loading")
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_owner(request: Request, service: ServiceDep) -> str:
    """The caller's key id from ``Authorization: Bearer <key>``; everyone is the local
    owner of a loopback server while no key was ever registered."""
    if not service.needs_keys():
        check_local_request(request, service.settings.cors_origins)
        return within_rate(service, auth.LOCAL_OWNER)
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    owner = auth.owner_of(service.db, key.strip()) if scheme.lower() == "bearer" else None
    if owner is None:
        raise HTTPException(401, "a valid API key is needed: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.owner = owner
    return within_rate(service, owner)


def within_rate(service: Service, owner: str) -> str:
    """``owner``, or 429 with Retry-After when it is over ``requests_per_minute``."""
    wait = service.rate_limiter.wait_needed(owner)
    if wait > 0:
        raise HTTPException(429, f"too many requests for this key: the limit is "
                                 f"{service.settings.requests_per_minute} a minute",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return owner


STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def _is_loopback_host(host: str) -> bool:
    """``localhost``, ``127.0.0.1`` or ``[::1]``, with or without a port."""
    host = host.lower()
    if host.startswith("["):
        return host.split("]", 1)[0] == "[::1"
    return host.split(":", 1)[0] in LOOPBACK


def check_local_request(request: Request, allowed_origins: list[str]) -> None:
    """An open (keyless, loopback) server answers only requests addressed to loopback, and
    takes writes only from its own pages or allowed origins: without this, any web page the
    user visits could drive it (a form POST needs no CORS preflight) or reach it through DNS
    rebinding (a foreign name resolving to 127.0.0.1)."""
    client = request.client.host if request.client else ""
    try:
        local_client = ipaddress.ip_address(client.split("%")[0]).is_loopback
    except ValueError:
        local_client = False
    if not local_client:  # a server started by other means than `python -m server serve`
        raise HTTPException(403, "this server has no API keys and answers only this machine; "
                                 "create a key (`python -m server keys create NAME`) to serve others")
    host = request.headers.get("host", "")
    if not _is_loopback_host(host):
        raise HTTPException(403, f"this server has no API keys and answers only requests "
                                 f"addressed to localhost, not to {host[:100]!r}")
    origin = request.headers.get("origin")
    if request.method in STATE_CHANGING and origin is not None:
        netloc = origin.split("://", 1)[-1]
        if origin not in allowed_origins and not _is_loopback_host(netloc):
            raise HTTPException(403, f"cross-site request from {origin[:100]!r} refused: this "
                                     "server has no API keys, so only its own pages may change it")


SettingsDep = Annotated[Settings, Depends(get_settings)]
OwnerDep = Annotated[str, Depends(get_owner)]
