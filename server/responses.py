"""Speech as an HTTP response, for every synthesis route: the text check (processed once),
the voice lookup, synthesis slots, and the audio whole or streamed."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator

import numpy as np
import torch
from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from server import encoding
from server.service import Service
from server.speech import VoiceNotFound, VoiceUnusable, resolve, speak
from voiceadapt.models.backbone import Backbone
from voiceadapt.text import Sentence, TextError, process

log = logging.getLogger("voiceadapt.speech")


def check_text(service: Service, text: str) -> list[Sentence]:
    """The text's sentences, processed once and spoken as they are; 413 over the character
    limit or when the text reads out longer than the phoneme limit (numbers and
    abbreviations expand: 4,300 digits are 4,300 words); 422 with nothing to say."""
    limit = service.settings.max_text_chars
    if len(text) > limit:
        raise HTTPException(413, f"text is {len(text)} characters; the limit is {limit}")
    try:
        sentences = process(text, service.model.symbols)
    except TextError as exc:
        raise HTTPException(422, str(exc)) from exc
    if not sentences:
        raise HTTPException(422, "the text has nothing to say")
    phonemes = sum(len(s.ids) for s in sentences)
    most = service.settings.max_text_phonemes
    if phonemes > most:
        raise HTTPException(413, f"the text reads out as {phonemes} phonemes (numbers and "
                                 f"abbreviations are spelled out); the limit is {most}")
    return sentences


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


async def _stream(request: Request, service: Service, pieces: Iterator[np.ndarray], fmt: str,
                  rate: int, slot: Slot) -> AsyncIterator[bytes]:
    """A WAV header at once, then each piece of audio as soon as it is made (a sentence,
    or part of one with the WaveNet). A synthesis slot is held only while a piece is made,
    never while the client reads: a client that stops reading holds no slot. Stops
    generating when the client goes away; ends early if no slot frees up in time."""
    try:
        if fmt == "wav":
            yield encoding.wav_stream_header(rate)
        while not await request.is_disconnected():
            if slot is None:
                try:
                    slot = await synthesis_slot(service)
                except HTTPException:
                    log.warning("stream ended early: no synthesis slot within %s s",
                                service.settings.synthesis_queue_s)
                    break
            try:
                chunk = await run_in_threadpool(next, pieces, None)
            finally:
                slot.release()
                slot = None
            if chunk is None:
                break
            yield encoding.pcm16(chunk)
    finally:
        if slot is not None:
            slot.release()
        try:
            pieces.close()
        except ValueError:  # cancelled while a worker thread was inside next(): that piece
            pass            # finishes there, nothing asks for another, and GC closes it


class Slot:
    """A held synthesis slot, given back exactly once however the request ends."""

    def __init__(self, slots: threading.Semaphore) -> None:
        self._slots, self._lock, self._held = slots, threading.Lock(), True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._slots.release()


class ClientGone(Exception):
    """The client of a non-streamed request left: its synthesis stopped."""


async def synthesis_slot(service: Service) -> Slot:
    """One of the service's synthesis slots (``max_concurrent_syntheses``), waiting up to
    ``synthesis_queue_s`` for one; 503 with Retry-After when all stay busy."""
    slots = service.synthesis_slots
    deadline = time.monotonic() + service.settings.synthesis_queue_s
    while not slots.acquire(blocking=False):
        if time.monotonic() >= deadline:
            raise HTTPException(503, "every synthesis slot is busy; try again shortly",
                                headers={"Retry-After": "2"})
        await asyncio.sleep(0.05)
    return Slot(slots)


async def _whole(request: Request, pieces: Iterator[np.ndarray], fmt: str, rate: int) -> bytes:
    """All the audio encoded, made in a worker thread; if the client leaves meanwhile, the
    synthesis stops at the next piece instead of finishing for no one."""
    left = threading.Event()

    def make() -> bytes:
        out = []
        for piece in pieces:
            if left.is_set():
                raise ClientGone
            out.append(piece)
        return encoding.encode(np.concatenate(out), rate, fmt)

    async def client_left() -> None:  # a blocking receive: it also lets the server read
        while (await request.receive())["type"] != "http.disconnect":  # the socket's EOF
            pass

    work = asyncio.ensure_future(run_in_threadpool(make))
    watch = asyncio.ensure_future(client_left())
    try:
        await asyncio.wait([work, watch], return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            left.set()
        return await work
    finally:
        left.set()  # if this request is cancelled, the worker stops at its next piece too
        watch.cancel()


async def respond(request: Request, service: Service, model: Backbone, g: torch.Tensor,
                  sentences: list[Sentence], fmt: str, rate: int, speed: float, seed: int,
                  stream: bool, vocoder: str = "auto", slot: Slot | None = None) -> Response:
    """The audio, whole or streamed. ``slot``: a synthesis slot the caller already holds
    (else one is taken here, 503 when none frees up in time)."""
    slot = slot or await synthesis_slot(service)
    try:
        pieces = speak(service, model, g, sentences, speed=speed, seed=seed, rate=rate,
                       vocoder=vocoder)
        if stream:
            body = _stream(request, service, pieces, fmt, rate, slot)
            # the stream gives the slot back after its first piece; a stream never started
            # (the client left first) gives it back when it is collected
            weakref.finalize(body, slot.release)
            response = StreamingResponse(body, media_type=encoding.media_type(fmt))
            slot = None
            return response
        try:
            data = await _whole(request, pieces, fmt, rate)
        except ClientGone:
            return Response(status_code=499)  # nobody is there to read it
    finally:
        if slot is not None:
            slot.release()
    return Response(data, media_type=encoding.media_type(fmt),
                    headers={"Content-Disposition": f'inline; filename="speech.{fmt}"'})
