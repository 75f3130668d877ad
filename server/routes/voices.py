"""Voices: create from reference clips (SEA-ENC at once), list, show, delete, adapt."""

from __future__ import annotations

from typing import Annotated

import torch
from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select

from server.db import ACTIVE_STATES, Job, JobState, Voice, new_id, now
from server.deps import OwnerDep, ServiceDep
from server.schemas import AdaptIn, JobOut, VoiceOut
from server.service import Service
from server.uploads import check_transcripts, read_clips
from voiceadapt.adapt import MODES, Mode, VoiceProfile
from voiceadapt.adapt.sea_enc import embedding_from_clips
from voiceadapt.audio import Audio

router = APIRouter(prefix="/v1/voices", tags=["voices"])
MODE_HELP = "; ".join(f"{m.name}: {m.summary}" + (" (a job)" if m.iterative else " (ready at once)")
                      for m in MODES.values())


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


def _count_active(s, owner: str) -> int:  # noqa: ANN001
    return s.scalar(select(func.count()).select_from(Job).where(
        Job.owner == owner, Job.state.in_(ACTIVE_STATES)))


def check_job_room(service: Service, owner: str, s) -> None:  # noqa: ANN001
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


def check_voice_quota(service: Service, owner: str, s, new_bytes: int = 0) -> None:  # noqa: ANN001
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


@router.post("", status_code=201, response_model=VoiceOut)
async def create_voice(
    service: ServiceDep, owner: OwnerDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    files: Annotated[list[UploadFile], File(description="reference clips of one speaker")],
    consent: Annotated[bool, Form(description="I attest the speaker consented to this voice")],
    transcripts: Annotated[list[str] | None, Form(description="what each clip says")] = None,
    mode: Annotated[Mode, Form(description=MODE_HELP)] = "sea-enc",
) -> VoiceOut:
    if not consent:
        raise HTTPException(422, "a voice needs the speaker's consent: send consent=true to "
                                 "attest it")
    with service.db.session() as s:  # a key at its quota costs no decoding (checked again
        check_voice_quota(service, owner, s)  # with the insert)
    clips = await read_clips(files, service.settings)
    texts = check_transcripts(transcripts, len(clips))
    iterative = MODES[mode].iterative
    if MODES[mode].needs_transcripts and None in texts:
        raise HTTPException(422, f"{mode} needs a transcript for every clip (sea-enc needs none)")
    if iterative:  # before anything is stored: a refused job leaves no voice behind
        with service.db.session() as s:  # (checked again with the insert)
            check_job_room(service, owner, s)
    g = await run_in_threadpool(embedding_from_clips, service.model, clips)
    voice = await store_voice(service, owner, name, clips, texts, g)
    job = None
    if iterative:
        try:
            job = queue_job(service, owner, voice, mode)
        except HTTPException:  # refused after all (a concurrent request took the last slot)
            remove_voice(service, voice.id)  # a refused job leaves no voice behind
            raise
    return VoiceOut.of(voice, service.storage.profile_bytes(voice.id), job)


@router.get("", response_model=list[VoiceOut])
def list_voices(service: ServiceDep, owner: OwnerDep) -> list[VoiceOut]:
    with service.db.session() as s:
        voices = list(s.scalars(select(Voice).where(Voice.owner == owner)
                                .order_by(Voice.created_at)))
    return [VoiceOut.of(v, service.storage.profile_bytes(v.id)) for v in voices]


@router.get("/{voice_id}", response_model=VoiceOut)
def get_voice(voice_id: str, service: ServiceDep, owner: OwnerDep) -> VoiceOut:
    voice = owned_voice(service, owner, voice_id)
    return VoiceOut.of(voice, service.storage.profile_bytes(voice_id))


@router.delete("/{voice_id}", status_code=204)
def delete_voice(voice_id: str, service: ServiceDep, owner: OwnerDep) -> None:
    owned_voice(service, owner, voice_id)
    remove_voice(service, voice_id)


def remove_voice(service: Service, voice_id: str) -> None:
    """Delete a voice's row, files and cached model; its jobs stop."""
    with service.db.session() as s:  # its jobs stop: queued ones at once, running ones soon
        s.query(Job).filter(Job.voice_id == voice_id, Job.state == JobState.QUEUED).update(
            {"state": JobState.CANCELLED, "cancel_requested": True, "finished_at": now()},
            synchronize_session=False)
        s.query(Job).filter(Job.voice_id == voice_id, Job.state == JobState.RUNNING).update(
            {"cancel_requested": True}, synchronize_session=False)
        s.query(Voice).filter(Voice.id == voice_id).delete()
    service.storage.delete_voice(voice_id)
    service.forget_voice(voice_id)


@router.post("/{voice_id}/adapt", status_code=202, response_model=JobOut)
def adapt_voice(voice_id: str, body: AdaptIn, service: ServiceDep, owner: OwnerDep) -> JobOut:
    voice = owned_voice(service, owner, voice_id)
    return JobOut.of(queue_job(service, owner, voice, body.mode))
