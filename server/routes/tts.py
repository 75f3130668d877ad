"""Synthesis: ``POST /v1/tts`` (a stored voice) and ``POST /v1/tts/oneshot`` (reference
clips in the request, SEA-ENC, nothing kept unless asked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from server import crud
from server.deps import OwnerDep, ServiceDep
from server.responses import check_format, check_text, resolve_or_http, respond, synthesis_slot
from server.schemas import Format, TTSIn
from server.uploads import check_transcripts, read_clips
from voiceadapt.adapt.sea_enc import embedding_from_clips

router = APIRouter(tags=["synthesis"])


@router.post("/v1/tts", response_class=Response,
             responses={200: {"content": {"audio/wav": {}}, "description": "the audio"}})
async def tts(body: TTSIn, request: Request, service: ServiceDep, owner: OwnerDep) -> Response:
    sentences = check_text(service, body.text)
    check_format(body.format, body.sample_rate, body.stream)
    model, g = await resolve_or_http(service, owner, body.voice)
    return await respond(request, service, model, g, sentences, body.format, body.sample_rate,
                         body.speed, body.seed, body.stream, body.vocoder)


@router.post("/v1/tts/oneshot", response_class=Response,
             responses={200: {"content": {"audio/wav": {}}, "description": "the audio"}})
async def tts_oneshot(
    request: Request, service: ServiceDep, owner: OwnerDep,
    text: Annotated[str, Form(min_length=1)],
    files: Annotated[list[UploadFile], File(description="reference clips of one speaker")],
    consent: Annotated[bool, Form(description="I attest the speaker consented")],
    format: Annotated[Format, Form()] = "wav",
    sample_rate: Annotated[int, Form()] = 16000,
    speed: Annotated[float, Form(ge=0.25, le=4.0)] = 1.0,
    seed: Annotated[int, Form(ge=0, lt=2**63)] = 0,
    stream: Annotated[bool, Form()] = False,
    store_as: Annotated[str | None, Form(max_length=200,
                                         description="keep the voice under this name")] = None,
    transcripts: Annotated[list[str] | None, Form()] = None,
) -> Response:
    if not consent:
        raise HTTPException(422, "speaking in someone's voice needs their consent: send "
                                 "consent=true to attest it")
    sentences = check_text(service, text)
    check_format(format, sample_rate, stream)
    clips = await read_clips(files, service.settings)
    slot = await synthesis_slot(service)  # before anything is stored: a 503 keeps nothing
    try:
        g = await run_in_threadpool(embedding_from_clips, service.model, clips)
        headers = {}
        if store_as:
            voice = await crud.store_voice(service, owner, store_as, clips,
                                      check_transcripts(transcripts, len(clips)), g)
            headers["X-Voice-Id"] = voice.id
    except BaseException:
        slot.release()
        raise
    response = await respond(request, service, service.model, g, sentences, format, sample_rate,
                             speed, seed, stream, slot=slot)
    response.headers.update(headers)
    return response
