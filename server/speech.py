"""Turning a request into audio: which voice speaks, and the stream of audio pieces."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from server.crud import find_voice
from server.encoding import to_rate
from server.service import Service
from voiceadapt.adapt import ProfileMismatch
from voiceadapt.inference.synthesize import speech_pieces
from voiceadapt.models.backbone import Backbone
from voiceadapt.text import Sentence

log = logging.getLogger("voiceadapt.speech")

# OpenAI's voice names, so existing clients work unchanged: each is one bundled speaker.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse")


class VoiceNotFound(LookupError):
    pass


class VoiceUnusable(ValueError):
    """The stored profile does not fit the loaded backbone (or is damaged)."""


def builtin_voices(model: Backbone) -> dict[str, str]:
    """OpenAI voice name -> bundled speaker, spread over the model's sorted speakers; the
    first, "alloy", is ``model.default_speaker``."""
    names = sorted(model.speakers)
    step = max(1, len(names) // len(OPENAI_VOICES))
    return {alias: names[(i * step) % len(names)] for i, alias in enumerate(OPENAI_VOICES)}


def resolve(service: Service, owner: str, voice: str) -> tuple[Backbone, torch.Tensor]:
    """A voice id or name the owner made, a bundled speaker, or an OpenAI voice name."""
    with service.db.session() as s:
        row = find_voice(s, owner, voice)
    if row is not None:
        try:
            return service.voice_model(row.id, f"{row.mode}@{row.updated_at}")
        except ProfileMismatch as exc:
            raise VoiceUnusable(f"voice {row.id} cannot be used with this model: {exc}") from exc
    model = service.model
    speaker = builtin_voices(model).get(voice, voice)
    if speaker in model.speakers:
        return model, model.speaker_embedding(speaker)
    raise VoiceNotFound(f"no voice {voice!r}: give one of your voice ids or names, a bundled "
                        "speaker, or one of " + ", ".join(OPENAI_VOICES))


def speak(service: Service, model: Backbone, g: torch.Tensor, sentences: Sequence[Sentence],
          speed: float = 1.0, seed: int = 0, rate: int | None = None,
          vocoder: str = "auto") -> Iterator[np.ndarray]:
    """Audio pieces at ``rate`` in reading order (the library's pieces and pauses), each made
    only when the caller asks for the next: a closed stream stops the work. At the model's
    rate the WaveNet's pieces go out as they are made; at another rate each sentence is
    resampled whole (Griffin-Lim makes whole sentences anyway). Here: resampling, the
    request's audio budget and the metrics."""
    native = model.features.sample_rate
    rate = rate or native
    pieces = speech_pieces(sentences, model, g, seed=seed, pace=speed, vocoder=vocoder,
                           folds=service.settings.wavenet_folds or None)
    budget = int(service.settings.max_audio_seconds * native)  # samples one request may make
    current, spent, made = 0, 0.0, 0
    held: list[np.ndarray] = []

    def sentence_done() -> None:
        nonlocal spent, made
        if made:
            seconds = made / native
            service.metrics.sentences.inc()
            service.metrics.audio_seconds.inc(seconds)
            service.metrics.rtf.observe(spent / max(seconds, 1e-3))
        spent, made = 0.0, 0

    while True:
        if budget <= 0:  # the text limits keep requests well under this; a last guard
            pieces.close()
            log.warning("synthesis stopped at max_audio_seconds=%s", service.settings.max_audio_seconds)
            piece = None
        else:
            start = time.perf_counter()
            piece = next(pieces, None)
            took = time.perf_counter() - start
        if piece is None or piece.sentence != current:  # the previous sentence is complete
            sentence_done()
            if held:
                yield to_rate(np.concatenate(held), native, rate)
                held = []
        if piece is None:
            return
        current = piece.sentence
        if piece.pause:  # silence: made at the output rate, not resampled
            yield np.zeros(len(piece.samples) * rate // native, dtype=np.float32)
            continue
        spent += took  # this piece's time belongs to its own sentence
        made += len(piece.samples)
        budget -= len(piece.samples)
        if rate == native:
            yield piece.samples
        else:  # resampling pieces one by one would put filter edges inside a sentence
            held.append(piece.samples)
