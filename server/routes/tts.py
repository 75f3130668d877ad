"""Synthesis: ``POST /v1/tts`` (a stored voice) and ``POST /v1/tts/oneshot`` (reference
clips in the request, SEA-ENC, nothing kept unless asked)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import numpy as np
import torch
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from server import encoding
from server.deps import OwnerDep, ServiceDep
from server.routes.voices import store_voice
from server.schemas import Format, TTSIn
from server.service import Service
from server.speech import VoiceNotFound, VoiceUnusable, resolve, speak
from server.uploads import check_transcripts, read_clips
from voiceadapt.adapt.sea_enc import embedding_from_clips
from voiceadapt.models.backbone import Backbone
from voiceadapt.text import TextError, process

router = APIRouter(tags=["synthesis"])


def check_text(service: Service, text: str) -> None:
    limit = service.settings.max_text_chars
    if len(text) > limit:
        raise HTTPException(413, f"text is {len(text)} characters; the limit is {limit}")
    try:
        if not process(text, service.model.symbols):
            raise HTTPException(422, "the text has nothing to say")
    except TextError as exc:
        raise HTTPException(422, str(exc)) from exc


async def resolve_or_http(service: Service, owner: str, voice: str) -> tuple[Backbone, torch.Tensor]:
    """The voice's model and embedding (a cache miss hashes and copies the backbone: done in
    a worker thread); 404 when there is no such voice, 409 when it no longer fits the model."""
    try:
        return await run_in_threadpool(resolve, service, owner, voice)
    except VoiceNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except VoiceUnusable as exc:
        raise HTTPException(409, f"{exc}; adapt it again") from exc


def check_format(fmt: str, rate: int, stream: bool) -> None:
    try:
        encoding.check_output(fmt, rate)
    except encoding.FormatError as exc:
        raise HTTPException(422, str(exc)) from exc
    if stream and fmt not in encoding.STREAMABLE:
        raise HTTPException(422, f"streaming sends {' or '.join(encoding.STREAMABLE)}; "
                                 f"ask for {fmt} without stream")


async def _stream(request: Request, pieces: Iterator[np.ndarray], fmt: str,
                  rate: int) -> AsyncIterator[bytes]:
    """A WAV header at once, then each piece of audio as soon as it is made (a sentence,
    or part of one with the WaveNet). Stops generating when the client goes away."""
    if fmt == "wav":
        yield encoding.wav_stream_header(rate)
    try:
        while not await request.is_disconnected():
            chunk = await run_in_threadpool(next, pieces, None)
            if chunk is None:
                break
            yield encoding.pcm16(chunk)
    finally:
        try:
            pieces.close()  # type: ignore[attr-defined]
        except ValueError:  # cancelled while a worker thread was inside next(): that piece
            pass            # finishes there, nothing asks for another, and GC closes it


async def respond(request: Request, service: Service, model: Backbone, g: torch.Tensor,
                  text: str, fmt: str, rate: int, speed: float, seed: int,
                  stream: bool, vocoder: str = "auto") -> Response:
    pieces = speak(service, model, g, text, speed=speed, seed=seed, rate=rate, vocoder=vocoder)
    if stream:
        return StreamingResponse(_stream(request, pieces, fmt, rate),
                                 media_type=encoding.media_type(fmt))

    def whole() -> bytes:
        return encoding.encode(np.concatenate(list(pieces)), rate, fmt)

    data = await run_in_threadpool(whole)
    return Response(data, media_type=encoding.media_type(fmt),
                    headers={"Content-Disposition": f'inline; filename="speech.{fmt}"'})


@router.post("/v1/tts", response_class=Response,
             responses={200: {"content": {"audio/wav": {}}, "description": "the audio"}})
async def tts(body: TTSIn, request: Request, service: ServiceDep, owner: OwnerDep) -> Response:
    check_text(service, body.text)
    check_format(body.format, body.sample_rate, body.stream)
    model, g = await resolve_or_http(service, owner, body.voice)
    return await respond(request, service, model, g, body.text, body.format, body.sample_rate,
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
    check_text(service, text)
    check_format(format, sample_rate, stream)
    clips = await read_clips(files, service.settings)
    g = await run_in_threadpool(embedding_from_clips, service.model, clips)
    headers = {}
    if store_as:
        voice = await store_voice(service, owner, store_as, clips,
                                  check_transcripts(transcripts, len(clips)), g)
        headers["X-Voice-Id"] = voice.id
    response = await respond(request, service, service.model, g, text, format, sample_rate,
                             speed, seed, stream)
    response.headers.update(headers)
    return response
