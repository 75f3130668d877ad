"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from server.deps import get_owner

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The model is loaded, the database answers, and (with Celery) the broker answers."""
    service = getattr(request.app.state, "service", None)
    checks: dict[str, str] = {"model": "ok" if service is not None else "loading"}
    if service is not None:
        try:
            with service.db.session() as s:
                s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # report, do not crash the probe
            checks["database"] = f"error: {exc}"
        if service.settings.job_backend == "celery":
            try:
                import redis

                redis.Redis.from_url(service.settings.redis_url, socket_timeout=2).ping()
                checks["broker"] = "ok"
            except Exception as exc:
                checks["broker"] = f"error: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics. They count every tenant's jobs and requests, so a server with
    keys shows them only to a key holder unless ``metrics_public`` says otherwise."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        return Response("", media_type=CONTENT_TYPE_LATEST)
    if not service.settings.metrics_public:
        get_owner(request, service)  # 401 without a valid key on a server that has keys
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
