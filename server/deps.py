"""Dependencies injected into routes; tests override them through ``app.dependency_overrides``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from server import auth
from server.service import Service
from server.settings import Settings


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
        return auth.LOCAL_OWNER
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    owner = auth.owner_of(service.db, key.strip()) if scheme.lower() == "bearer" else None
    if owner is None:
        raise HTTPException(401, "a valid API key is needed: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.owner = owner
    return owner


SettingsDep = Annotated[Settings, Depends(get_settings)]
OwnerDep = Annotated[str, Depends(get_owner)]
