"""The FastAPI application. ``create_app`` is the factory uvicorn and the tests use."""

from __future__ import annotations

from fastapi import FastAPI

from server.routes import frontend, health
from server.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="voiceadapt", version="0.1.0",
                  description="Few-shot speaker-adaptive text-to-speech.")
    app.state.settings = settings or Settings()
    app.include_router(health.router)
    app.include_router(frontend.router)
    return app
