"""OpenAI-compatible speech: existing OpenAI clients work with ``base_url`` pointed here."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select

from server.db import Voice
from server.deps import OwnerDep, ServiceDep
from server.responses import check_text, resolve_or_http, respond
from server.schemas import SpeechIn
from server.speech import builtin_voices

router = APIRouter(tags=["OpenAI-compatible"])
MODEL_ID = "voiceadapt-1"
MODEL_ALIASES = (MODEL_ID, "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_RATE = 24000  # OpenAI's audio (and its raw pcm) is 24 kHz mono 16-bit
CREATED = 1764115200  # 2025-11-26, when this API shape was fixed


@router.post("/v1/audio/speech", response_class=Response,
             responses={200: {"content": {"audio/mpeg": {}}, "description": "the audio"}})
async def speech(body: SpeechIn, request: Request, service: ServiceDep,
                 owner: OwnerDep) -> Response:
    if body.model not in MODEL_ALIASES:
        raise HTTPException(404, f"no model {body.model!r}; use one of {', '.join(MODEL_ALIASES)}")
    if body.response_format == "aac":
        raise HTTPException(422, "aac is not offered; use mp3, opus, flac, wav or pcm")
    sentences = check_text(service, body.input)
    model, g = await resolve_or_http(service, owner, body.voice)
    return await respond(request, service, model, g, sentences, body.response_format,
                         OPENAI_RATE, body.speed, 0, False)


@router.get("/v1/models")
def models() -> dict:
    return {"object": "list", "data": [{"id": m, "object": "model", "created": CREATED,
                                        "owned_by": "voiceadapt"} for m in MODEL_ALIASES]}


@router.get("/v1/audio/voices")
def voices(service: ServiceDep, owner: OwnerDep) -> dict:
    """OpenAI's voice names (bundled speakers) and this key's own voices."""
    out = [{"id": alias, "name": alias, "type": "builtin", "speaker": speaker}
           for alias, speaker in builtin_voices(service.model).items()]
    with service.db.session() as s:
        for v in s.scalars(select(Voice).where(Voice.owner == owner).order_by(Voice.created_at)):
            out.append({"id": v.id, "name": v.name, "type": "custom", "mode": v.mode})
    return {"voices": out}
