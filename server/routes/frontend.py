"""Front-end endpoints: see what the service will do with a text or a reference clip."""

from __future__ import annotations

import warnings

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from server.deps import SettingsDep, get_owner
from server.schemas import SpeakableText
from server.uploads import clip_from_bytes, read_upload
from voiceadapt.audio import FeatureParams, f0
from voiceadapt.text import TextError, process

router = APIRouter(prefix="/v1/frontend", tags=["front-end"], dependencies=[Depends(get_owner)])


class TextIn(BaseModel):
    text: SpeakableText


class SentenceOut(BaseModel):
    text: str
    phonemes: str
    ids: list[int]


class AudioReport(BaseModel):
    original_seconds: float
    original_rate: int
    seconds: float
    rate: int
    speech_seconds: float
    median_f0_hz: float
    warnings: list[str]


@router.post("/text", response_model=list[SentenceOut])
def analyze_text(body: TextIn, settings: SettingsDep) -> list[SentenceOut]:
    if len(body.text) > settings.max_text_chars:
        raise HTTPException(413, f"text is {len(body.text)} characters; the limit is "
                                 f"{settings.max_text_chars}")
    try:
        sentences = process(body.text)
    except TextError as exc:
        raise HTTPException(422, str(exc)) from exc
    return [SentenceOut(text=s.text, phonemes=s.phonemes, ids=list(s.ids)) for s in sentences]


@router.post("/audio", response_model=AudioReport)
async def analyze_audio(file: UploadFile, settings: SettingsDep) -> AudioReport:
    data = await read_upload(file, settings.max_upload_bytes)
    return await run_in_threadpool(_analyze, data, file.filename or "clip", settings)


def _analyze(data: bytes, name: str, settings) -> AudioReport:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audio = clip_from_bytes(data, name, settings.audio_limits())
    hz, voiced = f0(audio.samples, FeatureParams())
    return AudioReport(
        original_seconds=round(audio.original_seconds, 3), original_rate=audio.original_rate,
        seconds=round(audio.seconds, 3), rate=audio.rate,
        speech_seconds=round(audio.speech_seconds, 3),
        median_f0_hz=round(float(np.median(hz[voiced])), 1) if voiced.any() else 0.0,
        warnings=[str(w.message) for w in caught],
    )
