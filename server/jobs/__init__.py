"""Adaptation jobs: one executor (``execute``), two runners (in-process, Celery)."""

from __future__ import annotations

from server.service import Runner, Service


def make_runner(service: Service) -> Runner:
    if service.settings.job_backend == "celery":
        from server.jobs.celery_app import CeleryRunner

        return CeleryRunner(service)
    from server.jobs.local import LocalRunner

    return LocalRunner(service, service.settings.local_workers)
