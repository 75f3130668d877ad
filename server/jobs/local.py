"""The embedded job runner: worker threads in the API process, fed from the job table."""

from __future__ import annotations

import logging
import queue
import threading

from server.jobs.execute import recover, run_job
from server.service import Service

log = logging.getLogger("voiceadapt.jobs")


class LocalRunner:
    def __init__(self, service: Service, workers: int) -> None:
        self.service, self.workers = service, workers
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for job_id in recover(self.service):
            self.queue.put(job_id)
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"adapt-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def submit(self, job_id: str) -> None:
        self.queue.put(job_id)

    def _work(self) -> None:
        while (job_id := self.queue.get()) is not None:
            try:
                run_job(self.service, job_id)
            except Exception:  # run_job records failures; this guards the thread itself
                log.exception("job runner error on %s", job_id)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs. A job still running stays "running" in the table, and the next
        start queues it again (its thread is a daemon and dies with the process)."""
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout)
