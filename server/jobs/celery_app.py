"""Scale-out: the same jobs on Celery workers over Redis (``VOICEADAPT_JOB_BACKEND=celery``).

Start a worker with ``python -m server worker``. Each worker process loads the model once.
Messages are acknowledged after the job ends, so a worker that dies mid-job gets its job
redelivered; the job table decides whether it still runs (``claim``).
"""

from __future__ import annotations

import functools

from celery import Celery
from celery.signals import worker_process_init

from server.allocator import MallocTrimmer, limit_malloc_arenas
from server.jobs.execute import recover, run_job
from server.service import Service
from server.settings import Settings


def configure(app: Celery, settings: Settings) -> Celery:
    """Point a Celery app at the settings' broker, with the delivery rules the jobs need."""
    app.conf.update(broker_url=settings.redis_url, task_acks_late=True,
                    task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                    task_default_queue="voiceadapt-adapt", broker_connection_retry_on_startup=True)
    return app


def make_celery(settings: Settings) -> Celery:
    return configure(Celery("voiceadapt"), settings)


# the worker's app: its task is registered at import, its broker set when a worker starts
# (``worker_main``), so importing this module reads no settings
celery = Celery("voiceadapt")


def worker_main(argv: list[str], settings: Settings | None = None) -> None:
    """Run a worker with the API's allocator care (server/allocator.py): the arena cap is set
    before any pool exists (forked children inherit it), and free memory is handed back every
    ``malloc_trim_s`` in this process (the solo and threads pools run jobs here) and in each
    prefork child."""
    settings = settings or Settings()
    limit_malloc_arenas(settings.malloc_arenas)
    MallocTrimmer(settings.malloc_trim_s).start()

    @worker_process_init.connect(weak=False)
    def trim_in_child(**_: object) -> None:
        MallocTrimmer(settings.malloc_trim_s).start()

    configure(celery, settings).worker_main(argv)


@functools.cache
def _worker_service() -> Service:
    return Service.create(Settings())


@celery.task(name="voiceadapt.adapt", bind=True)
def adapt_task(self, job_id: str) -> str:  # self: celery's bound task
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    return run_job(_worker_service(), job_id, redelivered=redelivered)


class CeleryRunner:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.app = make_celery(service.settings)

    def start(self) -> None:
        # Jobs "running" belong to live workers (or come back by redelivery); queued ones
        # are sent again, which is harmless: only one claim of a job succeeds.
        for job_id in recover(self.service, running_interrupted=False):
            self.submit(job_id)

    def submit(self, job_id: str) -> None:
        self.app.send_task("voiceadapt.adapt", args=[job_id])

    def stop(self, timeout: float = 5.0) -> None:
        pass
