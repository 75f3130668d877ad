"""The service's records, owner by owner: the one place that looks up, counts, stores, queues
and cancels voices and jobs for a key. Routes call these and never each other; each raises
the HTTPException a client should see (404 for another key's records, 429 at a quota)."""

from __future__ import annotations

import torch
from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import ACTIVE_STATES, Job, JobState, Voice, new_id, now
from server.service import Service
from voiceadapt.adapt import MODES, VoiceProfile
from voiceadapt.audio import Audio


def owned_job(service: Service, owner: str, job_id: str) -> Job:
    """The job, or 404 when it does not exist or belongs to another key."""
    with service.db.session() as s:
        job = s.get(Job, job_id)
    if job is None or job.owner != owner:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


def find_voice(s: Session, owner: str, voice: str) -> Voice | None:
    """The owner's voice by id, else the newest of theirs with that name, else None."""
    row = s.get(Voice, voice)
    if row is None or row.owner != owner:
        row = s.scalar(select(Voice).where(Voice.owner == owner, Voice.name == voice)
                       .order_by(Voice.created_at.desc()).limit(1))
    return row


def cancel_jobs(s: Session, *where) -> None:  # where: SQLAlchemy conditions
    """The one cancel path: the matching queued jobs are cancelled at once, running ones are
    asked to stop after their current step (the executor reads ``cancel_requested``)."""
    s.query(Job).filter(*where, Job.state == JobState.QUEUED).update(
        {"state": JobState.CANCELLED, "cancel_requested": True, "finished_at": now()},
        synchronize_session=False)
    s.query(Job).filter(*where, Job.state == JobState.RUNNING).update(
        {"cancel_requested": True}, synchronize_session=False)


def cancel_job(service: Service, owner: str, job_id: str) -> Job:
    owned_job(service, owner, job_id)
    with service.db.session() as s:
        cancel_jobs(s, Job.id == job_id)
    return owned_job(service, owner, job_id)


def owned_voice(service: Service, owner: str, voice_id: str) -> Voice:
    """The voice, or 404 when it does not exist or belongs to another key (the same answer,
    so a key cannot probe for other keys' voices)."""
    with service.db.session() as s:
        voice = s.get(Voice, voice_id)
    if voice is None or voice.owner != owner:
        raise HTTPException(404, f"no voice {voice_id!r}")
    return voice


def check_transcripts_fit(transcripts: list, mode: str) -> None:
    """422 when the mode needs transcripts the clips lack."""
    if MODES[mode].needs_transcripts and any(t is None for t in transcripts):
        raise HTTPException(422, f"{mode} fits the voice on what was said: this voice has "
                                 "clips without transcripts (sea-enc needs none)")


def _count_active(s, owner: str) -> int:
    return s.scalar(select(func.count()).select_from(Job).where(
        Job.owner == owner, Job.state.in_(ACTIVE_STATES)))


def check_job_room(service: Service, owner: str, s) -> None:
    """429 when the key already has its limit of queued or running jobs."""
    limit = service.settings.max_jobs_per_key
    active = _count_active(s, owner)
    if active >= limit:
        raise HTTPException(429, f"{active} adaptation jobs are already queued or running "
                                 f"for this key; the limit is {limit}")


def insert_job_within_limit(service: Service, owner: str, job: Job) -> None:
    """Count the key's active jobs and add ``job`` in one locked transaction (429 at the
    limit): concurrent requests cannot both see room for one more."""
    with service.db.owner_locked(owner) as s:
        check_job_room(service, owner, s)
        s.add(job)


def queue_job(service: Service, owner: str, voice: Voice, mode: str) -> Job:
    check_transcripts_fit(voice.transcripts, mode)
    job = Job(id=new_id("job"), owner=owner, voice_id=voice.id, mode=mode, state=JobState.QUEUED,
              steps=service.settings.adapt_steps)
    insert_job_within_limit(service, owner, job)
    try:
        service.runner.submit(job.id)
    except Exception as exc:  # e.g. the broker is down: say so, and leave no orphan job
        with service.db.session() as s:
            s.query(Job).filter(Job.id == job.id).update(
                {"state": JobState.FAILED, "finished_at": now(), "error": f"could not queue: {exc}"})
        raise HTTPException(503, f"the job queue is unavailable: {exc}") from exc
    return job


async def store_voice(service: Service, owner: str, name: str, clips: list[Audio],
                      transcripts: list[str | None], g: torch.Tensor) -> Voice:
    """Keep a new SEA-ENC voice: its clips and profile on disk, then its row."""
    seconds = round(sum(c.seconds for c in clips), 3)
    profile = VoiceProfile(mode="sea-enc", embedding=g.cpu(), backbone=service.fingerprint,
                           seconds=seconds, name=name)
    voice_id = new_id("voice")
    rate = service.model.features.sample_rate
    await run_in_threadpool(service.storage.create_voice, voice_id, [c.samples for c in clips],
                            rate, profile)
    voice = Voice(id=voice_id, owner=owner, name=name, mode="sea-enc", clips=len(clips),
                  seconds=seconds, transcripts=transcripts, created_at=now(), updated_at=now(),
                  consent=f"consent attested by {owner} at {now().isoformat()}")
    try:
        with service.db.owner_locked(owner) as s:  # quota check and insert: one atomic step
            check_voice_quota(service, owner, s, service.storage.voice_bytes(voice_id))
            s.add(voice)
    except Exception:
        service.storage.delete_voice(voice_id)
        raise
    return voice


def check_voice_quota(service: Service, owner: str, s, new_bytes: int = 0) -> None:
    """429 when one more voice (of ``new_bytes`` on disk) would pass the key's voice count
    or stored-bytes quota; the body names the limit."""
    settings = service.settings
    ids = list(s.scalars(select(Voice.id).where(Voice.owner == owner)))
    if len(ids) + 1 > settings.max_voices_per_key:
        raise HTTPException(429, f"this key has {len(ids)} voices; the limit is "
                                 f"{settings.max_voices_per_key}: delete one first")
    stored = sum(service.storage.voice_bytes(v) for v in ids)
    if stored + new_bytes > settings.max_stored_bytes_per_key:
        raise HTTPException(429, f"this key stores {stored} bytes of voices and this one needs "
                                 f"{new_bytes} more; the limit is "
                                 f"{settings.max_stored_bytes_per_key} bytes: delete a voice first")


def remove_voice(service: Service, voice_id: str) -> None:
    """Delete a voice's row, files and cached model; its jobs stop."""
    with service.db.session() as s:  # its jobs stop: queued ones at once, running ones soon
        cancel_jobs(s, Job.voice_id == voice_id)
        s.query(Voice).filter(Voice.id == voice_id).delete()
    service.storage.delete_voice(voice_id)
    service.forget_voice(voice_id)
