"""Running one adaptation job, the same code in the API's threads and in Celery workers.

The job row is the truth: progress is written to it each step, cancellation is read from
it between steps, and its final state says what happened (never left "running" on error).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from server.db import Job, JobState, Voice, now
from server.service import Service
from voiceadapt import adapt

log = logging.getLogger("voiceadapt.jobs")


def claim(service: Service, job_id: str, redelivered: bool = False) -> bool:
    """Move a queued job to running; False if it is gone, cancelled or already taken.
    ``redelivered``: the broker handed back a job whose worker died, so "running" means
    interrupted; it runs again while it has attempts left."""
    with service.db.session() as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None:
            return False
        if redelivered and job.state == JobState.RUNNING:
            if job.attempts >= service.settings.max_job_attempts:
                job.state, job.finished_at = JobState.FAILED, now()
                job.error = "its worker stopped while running it (no attempts left)"
                return False
        elif job.state != JobState.QUEUED:
            return False
        if job.cancel_requested:
            job.state, job.finished_at = JobState.CANCELLED, now()
            return False
        job.state, job.started_at, job.attempts = JobState.RUNNING, now(), job.attempts + 1
        job.error = None
        return True


def run_job(service: Service, job_id: str, redelivered: bool = False) -> str:
    """Run a queued job to its end; returns the final state."""
    if not claim(service, job_id, redelivered):
        with service.db.session() as s:
            job = s.get(Job, job_id)
            return job.state if job else "missing"
    started = time.perf_counter()
    mode = "?"
    last_write = [0.0]

    def progress(p: adapt.Progress) -> None:
        t = time.perf_counter()
        if t - last_write[0] < 0.2 and p.step not in (1, p.steps):
            return  # the table is for people watching: a few updates a second is plenty
        last_write[0] = t
        with service.db.session() as s:
            s.query(Job).filter(Job.id == job_id).update(
                {"stage": p.stage, "step": p.step, "steps": p.steps, "loss": p.loss,
                 "heldout_loss": p.heldout_loss})

    def cancelled() -> bool:
        with service.db.session() as s:
            return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    try:  # from here on the job always ends in a final state
        with service.db.session() as s:
            job = s.get(Job, job_id)
            voice = s.get(Voice, job.voice_id)
            mode, voice_id = job.mode, job.voice_id
        if voice is None:
            raise LookupError("the voice was deleted")
        clips = service.storage.clip_paths(voice_id)
        cfg = adapt.FitConfig(steps=service.settings.adapt_steps)
        profile = adapt.MODES[mode].fit(service.model, clips, list(voice.transcripts), cfg=cfg,
                                name=voice.name, progress=progress, cancel=cancelled,
                                limits=service.settings.audio_limits())
        with service.db.session() as s:
            voice_row = s.get(Voice, voice_id, with_for_update=True)
            if voice_row is None:
                raise LookupError("the voice was deleted while it was being adapted")
            service.storage.save_profile(voice_id, profile)
            voice_row.mode, voice_row.updated_at = mode, now()
            _finish(s, job_id, JobState.SUCCEEDED)
        service.forget_voice(voice_id)
        state = JobState.SUCCEEDED
    except adapt.Cancelled:
        state = _finish_safely(service, job_id, JobState.CANCELLED)
    except Exception as exc:  # the job records why; the worker goes on
        log.exception("job %s failed", job_id)
        state = _finish_safely(service, job_id, JobState.FAILED, f"{type(exc).__name__}: {exc}")
    log.info("job %s %s in %.1f s", job_id, state, time.perf_counter() - started,
             extra={"job_id": job_id, "mode": mode, "state": state})
    return state


def _finish(s, job_id: str, state: str, error: str | None = None) -> None:
    job = s.get(Job, job_id)
    job.state, job.finished_at, job.error = state, now(), error


def _finish_safely(service: Service, job_id: str, state: str, error: str | None = None,
                   attempts: int = 3) -> str:
    """Record the final state, retrying a busy database; a job must not stay "running"."""
    for attempt in range(attempts):
        try:
            with service.db.session() as s:
                _finish(s, job_id, state, error)
            return state
        except Exception:
            log.exception("job %s: could not record %s (try %d)", job_id, state, attempt + 1)
            time.sleep(1.0 + attempt)
    return state


def recover(service: Service, running_interrupted: bool = True) -> list[str]:
    """After a restart: with ``running_interrupted`` (the in-process runner, whose jobs died
    with the process), a job left "running" is queued again while it has attempts left, else
    failed with the reason. Returns the queued job ids, oldest first."""
    with service.db.session() as s:
        interrupted = s.scalars(select(Job).where(Job.state == JobState.RUNNING)) \
            if running_interrupted else []
        for job in interrupted:
            if job.attempts < service.settings.max_job_attempts and not job.cancel_requested:
                job.state, job.error = JobState.QUEUED, "interrupted by a restart; queued again"
                job.started_at, job.step = None, 0
            else:
                job.state, job.finished_at = JobState.FAILED, now()
                job.error = "interrupted by a restart (no attempts left)"
        return list(s.scalars(select(Job.id).where(Job.state == JobState.QUEUED)
                              .order_by(Job.created_at)))
