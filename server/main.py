"""The FastAPI application. ``create_app`` is the factory uvicorn and the tests use.

The model is loaded once, in the lifespan; the job runner starts and stops with the app.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import voiceadapt
from server import auth, logs
from server.allocator import MallocTrimmer, limit_malloc_arenas
from server.body_guard import BodyGuard, BodyLimits
from server.jobs import make_runner
from server.methods import HeadAndOptions
from server.routes import frontend, health, jobs, openai_compat, tts, voices
from server.service import Service
from server.settings import Settings
from voiceadapt.models.backbone import Backbone

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, model: Backbone | None = None) -> FastAPI:
    """The app. ``model``: an already loaded backbone (tests share one); default: load
    ``settings.model`` or the bundled model at start-up."""
    settings = settings or Settings()
    logs.configure(settings.log_json)
    limit_malloc_arenas(settings.malloc_arenas)  # before the thread pool's threads exist

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service = Service.create(settings, model)
        if settings.bootstrap_api_key is not None:
            auth.create_key(service.db, "bootstrap", settings.bootstrap_api_key.get_secret_value())
        service.runner = make_runner(service)
        service.runner.start()
        trimmer = MallocTrimmer(settings.malloc_trim_s)
        trimmer.start()
        app.state.service = service
        try:
            yield
        finally:
            app.state.service = None
            trimmer.stop()
            service.runner.stop()
            service.close()

    app = FastAPI(title="voiceadapt", version=voiceadapt.__version__, lifespan=lifespan,
                  description="Few-shot speaker-adaptive text-to-speech: make a voice from a "
                              "few seconds of audio, then speak any text in it.")
    app.state.settings = settings
    app.state.service = None
    # bodies are counted and timed as they arrive (chunked ones too); the request log sits
    # outside so that it records what the client got
    app.add_middleware(BodyGuard, limits=BodyLimits(
        upload_bytes=settings.max_upload_bytes, other_bytes=settings.max_json_bytes,
        idle_seconds=settings.body_idle_timeout_s, total_seconds=settings.body_timeout_s))
    app.add_middleware(HeadAndOptions, routes=app.router.routes)
    app.add_middleware(logs.RequestLog)

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with the reasons; the offending inputs are left out of the body (they may be
        NaN, huge or not JSON at all)."""
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, 422)

    @app.exception_handler(UnicodeError)
    async def unencodable_text(request: Request, exc: UnicodeError) -> JSONResponse:
        """Text that cannot be stored or spoken (a lone surrogate in a form field, where a
        client may choose the charset): the client's input, so a 422."""
        return JSONResponse({"detail": "the request holds text that is not valid Unicode "
                                       "(e.g. an unpaired surrogate)"}, 422)

    for module in (health, voices, jobs, tts, openai_compat, frontend):
        app.include_router(module.router)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="demo")
    return app
