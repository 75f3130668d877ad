"""Reference clips from multipart uploads, checked against the service's limits.

Every problem is a clear 4xx: 413 too big or too long, 415 not audio, 422 unusable audio.
"""

from __future__ import annotations

from fastapi import HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool

from server.settings import Settings
from voiceadapt.audio import (
    AudioError,
    AudioLimits,
    TooLongError,
    UndecodableAudioError,
    check_total_speech,
    load_audio,
)
from voiceadapt.audio.io import Audio


def clip_from_bytes(data: bytes, name: str, limits: AudioLimits) -> Audio:
    """One decoded, validated clip, or the 4xx that says what is wrong with it."""
    try:
        return load_audio(data, limits)
    except UndecodableAudioError as exc:
        raise HTTPException(415, f"{name}: {exc}") from exc
    except TooLongError as exc:
        raise HTTPException(413, f"{name}: {exc}") from exc
    except AudioError as exc:
        raise HTTPException(422, f"{name}: {exc}") from exc


async def read_upload(f: UploadFile, max_bytes: int, already: int = 0) -> bytes:
    """The file's bytes; 413 once this upload and the ``already`` read ones pass the limit."""
    data = await f.read(max_bytes - already + 1)
    if already + len(data) > max_bytes:
        raise HTTPException(413, f"upload is larger than {max_bytes} bytes")
    return data


async def read_clips(files: list[UploadFile], settings: Settings) -> list[Audio]:
    if not files:
        raise HTTPException(422, "upload at least one reference clip")
    if len(files) > settings.max_clips:
        raise HTTPException(413, f"{len(files)} clips; the limit is {settings.max_clips}")
    limits = settings.audio_limits()
    clips, total_bytes = [], 0
    for f in files:
        data = await read_upload(f, settings.max_upload_bytes, total_bytes)
        total_bytes += len(data)
        clips.append(await run_in_threadpool(clip_from_bytes, data, f.filename or "clip", limits))
    try:
        check_total_speech(clips, limits, [f.filename or f"clip {i + 1}" for i, f in enumerate(files)])
    except AudioError as exc:
        raise HTTPException(422, str(exc)) from exc
    total = sum(c.seconds for c in clips)
    if total > settings.max_voice_seconds:
        raise HTTPException(413, f"{total:.1f} s of audio; a voice may have at most "
                                 f"{settings.max_voice_seconds:.0f} s")
    return clips


def check_transcripts(transcripts: list[str] | None, clips: int) -> list[str | None]:
    """One transcript per clip, or none at all (blank ones count as missing)."""
    transcripts = [t if t and t.strip() else None for t in (transcripts or [])]
    if transcripts and len(transcripts) != clips:
        raise HTTPException(422, f"{len(transcripts)} transcripts for {clips} clips: give one "
                                 "per clip, in the same order, or none")
    return transcripts or [None] * clips
