"""Request and response bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from server.db import Job, JobState, Voice
from voiceadapt.names import IterativeMode, Mode, Vocoder


def utc(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def _speakable(text: str) -> str:
    """Text a client can send in JSON but no one can read: lone UTF-16 surrogates."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ValueError("the text holds an unpaired surrogate code point (broken UTF-16)")
    return text


SpeakableText = Annotated[str, Field(min_length=1), AfterValidator(_speakable)]
PlainText = Annotated[str, AfterValidator(_speakable)]
Seed = Annotated[int, Field(0, ge=0, lt=2**63, description="the same seed gives the same audio")]
Format = Literal["wav", "flac", "opus", "ogg", "mp3", "pcm"]


class VoiceOut(BaseModel):
    id: str
    name: str
    mode: Mode
    clips: int
    seconds: float
    profile_bytes: int
    created_at: datetime
    updated_at: datetime
    job: JobOut | None = None  # the adaptation started with the voice, if any

    @classmethod
    def of(cls, v: Voice, profile_bytes: int, job: Job | None = None) -> VoiceOut:
        return cls(id=v.id, name=v.name, mode=v.mode, clips=v.clips, seconds=v.seconds,
                   profile_bytes=profile_bytes, created_at=utc(v.created_at), updated_at=utc(v.updated_at),
                   job=JobOut.of(job) if job else None)


class JobOut(BaseModel):
    id: str
    voice_id: str
    mode: Mode
    state: JobState
    stage: str | None
    step: int
    steps: int
    loss: float | None
    heldout_loss: float | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None = Field(None, description="running time so far or in all")

    @classmethod
    def of(cls, j: Job) -> JobOut:
        started, finished = utc(j.started_at), utc(j.finished_at)
        seconds = None
        if started is not None and j.state != JobState.QUEUED:
            seconds = ((finished or datetime.now(UTC)) - started).total_seconds()
        return cls(id=j.id, voice_id=j.voice_id, mode=j.mode, state=j.state, stage=j.stage,
                   step=j.step, steps=j.steps, loss=j.loss, heldout_loss=j.heldout_loss,
                   error=j.error, attempts=j.attempts, created_at=utc(j.created_at),
                   started_at=started, finished_at=finished, seconds=seconds)


class AdaptIn(BaseModel):
    mode: IterativeMode = "sea-emb"


class TTSIn(BaseModel):
    text: SpeakableText
    voice: PlainText = Field(description="a voice id or name of yours, a bundled speaker, or an "
                                   "OpenAI voice name")
    format: Format = "wav"
    sample_rate: int = 16000
    speed: float = Field(1.0, ge=0.25, le=4.0)
    seed: Seed = 0
    stream: bool = False
    vocoder: Vocoder = Field(
        "auto", description="auto: the one the model recommends")


class SpeechIn(BaseModel):
    """OpenAI's ``POST /v1/audio/speech`` body."""

    model: PlainText = "voiceadapt-1"
    input: SpeakableText
    voice: PlainText
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    instructions: PlainText | None = None  # accepted and ignored, as clients may send it
