"""Voices: create from reference clips (SEA-ENC at once), list, show, delete, adapt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from server import crud
from server.db import Voice
from server.deps import OwnerDep, ServiceDep
from server.schemas import AdaptIn, JobOut, VoiceOut
from server.uploads import check_transcripts, read_clips
from voiceadapt.adapt import MODES, Mode
from voiceadapt.adapt.sea_enc import embedding_from_clips

router = APIRouter(prefix="/v1/voices", tags=["voices"])
MODE_HELP = "; ".join(f"{m.name}: {m.summary}" + (" (a job)" if m.iterative else " (ready at once)")
                      for m in MODES.values())


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
        crud.check_voice_quota(service, owner, s)  # with the insert)
    clips = await read_clips(files, service.settings)
    texts = check_transcripts(transcripts, len(clips))
    iterative = MODES[mode].iterative
    if MODES[mode].needs_transcripts and None in texts:
        raise HTTPException(422, f"{mode} needs a transcript for every clip (sea-enc needs none)")
    if iterative:  # before anything is stored: a refused job leaves no voice behind
        with service.db.session() as s:  # (checked again with the insert)
            crud.check_job_room(service, owner, s)
    g = await run_in_threadpool(embedding_from_clips, service.model, clips)
    voice = await crud.store_voice(service, owner, name, clips, texts, g)
    job = None
    if iterative:
        try:
            job = crud.queue_job(service, owner, voice, mode)
        except HTTPException:  # refused after all (a concurrent request took the last slot)
            crud.remove_voice(service, voice.id)  # a refused job leaves no voice behind
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
    voice = crud.owned_voice(service, owner, voice_id)
    return VoiceOut.of(voice, service.storage.profile_bytes(voice_id))


@router.delete("/{voice_id}", status_code=204)
def delete_voice(voice_id: str, service: ServiceDep, owner: OwnerDep) -> None:
    crud.owned_voice(service, owner, voice_id)
    crud.remove_voice(service, voice_id)


@router.post("/{voice_id}/adapt", status_code=202, response_model=JobOut)
def adapt_voice(voice_id: str, body: AdaptIn, service: ServiceDep, owner: OwnerDep) -> JobOut:
    voice = crud.owned_voice(service, owner, voice_id)
    return JobOut.of(crud.queue_job(service, owner, voice, body.mode))
