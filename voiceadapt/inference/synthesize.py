"""Text in, waveform out: sentence by sentence, through the acoustic model and a vocoder
(the WaveNet, or Griffin-Lim: see :mod:`voiceadapt.models.vocoders`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from voiceadapt.adapt.fit import apply_profile
from voiceadapt.adapt.profile import ProfileMismatch, VoiceProfile, backbone_fingerprint, load_profile
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.checkpoint import load as load_checkpoint
from voiceadapt.models.vocoders import resolve_vocoder, vocode_stream
from voiceadapt.text import Sentence, process
from voiceadapt.text.g2p import DEFAULT_LANGUAGE

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = "default.safetensors"
SENTENCE_PAUSE_S = 0.25


def default_model_path() -> Path:
    """The bundled default model. (The library reads no environment: the CLI and the service
    turn ``VOICEADAPT_MODEL`` into the ``path`` they pass to ``load``.)"""
    return ASSETS / DEFAULT_MODEL


def _deprecated_env_model() -> str | None:
    """``VOICEADAPT_MODEL`` as ``load()`` once read it. Deprecated: still honoured, with a
    warning, until callers pass the path; the CLI and the service already do."""
    path = os.environ.get("VOICEADAPT_MODEL")
    if path:
        warnings.warn("voiceadapt.load() without a path reads VOICEADAPT_MODEL only until the "
                      "next release: pass the checkpoint's path instead", FutureWarning,
                      stacklevel=3)
    return path or None


def load(path: str | os.PathLike[str] | None = None, device: str = "cpu") -> Backbone:
    """Load a backbone checkpoint (default: the bundled model); a checkpoint with a ``.sha256``
    file beside it, as the bundled one has, is checked against it."""
    if path is None:
        path = _deprecated_env_model() or default_model_path()
        if not Path(path).exists():
            raise FileNotFoundError(f"no model at {path}: train one (python -m training train) "
                                    "and pass its path")
    checksum_file = Path(path).with_suffix(".sha256")
    expected = checksum_file.read_text().split()[0] if checksum_file.exists() else None
    return load_checkpoint(path, expected_sha256=expected, device=device)


def _resolve_voice(model: Backbone, speaker: str | None, embedding: torch.Tensor | None,
                   voice: VoiceProfile | str | os.PathLike[str] | None,
                   ) -> tuple[Backbone, torch.Tensor]:
    """(the model to speak with, g): a profile may patch the backbone."""
    if sum(x is not None for x in (speaker, embedding, voice)) != 1:
        raise ValueError("give exactly one of speaker= (a bundled speaker), embedding= or voice= "
                         "(a voice profile)")
    if voice is not None:
        if not isinstance(voice, VoiceProfile):
            voice = load_profile(voice, model)
        elif voice.backbone != backbone_fingerprint(model):
            raise ProfileMismatch("this voice was made for another backbone; adapt it again")
        model = apply_profile(model, voice)
        embedding = voice.embedding
    if speaker is not None:
        return model, model.speaker_embedding(speaker)
    assert embedding is not None
    if embedding.shape != (model.cfg.speaker_channels,):
        raise ValueError(f"speaker embedding must have shape ({model.cfg.speaker_channels},)")
    return model, embedding.to(model.speaker_table.weight.device)


@dataclass(frozen=True)
class Piece:
    """A piece of speech in reading order: part or all of one sentence's audio, or the
    pause before it (float32 at the model's rate)."""

    sentence: int  # index of the sentence in reading order
    samples: np.ndarray
    pause: bool = False


Text = str | Sequence[Sentence]


def _sentences(text: Text, model: Backbone) -> Sequence[Sentence]:
    """Raw text is processed here; processed sentences (``voiceadapt.text.process`` with this
    model's symbols) are used as given, so a caller that checked them does not do it twice."""
    return process(text, model.symbols) if isinstance(text, str) else text


@torch.no_grad()
def speech_pieces(text: Text, model: Backbone, g: torch.Tensor, seed: int = 0, pace: float = 1.0,
                  temperature: float = 1.0, vocoder: str = "auto", folds: int | None = None,
                  pause_s: float = SENTENCE_PAUSE_S) -> Iterator[Piece]:
    """The one synthesis path: each sentence through the acoustic model and the vocoder, a
    ``pause_s`` silence before every sentence but the first, every piece yielded as soon as
    it is made (the WaveNet streams within a sentence). ``folds``: WaveNet pieces generated
    side by side (1 = exact; default: one per core)."""
    if not 0.25 <= pace <= 4.0:
        raise ValueError("pace must be between 0.25 and 4")
    sentences = _sentences(text, model)
    vocoder = resolve_vocoder(model, vocoder)
    device = model.speaker_table.weight.device
    generator = torch.Generator(device="cpu" if vocoder == "wavenet" else device).manual_seed(seed)
    pause = np.zeros(int(pause_s * model.features.sample_rate), dtype=np.float32)
    gb = g[None]
    lang = model.language_ids([DEFAULT_LANGUAGE])  # the front-end speaks English
    was_training = model.training
    model.eval()  # a model fresh from training would speak through dropout: not repeatable
    try:
        for index, sentence in enumerate(sentences):
            if index and len(pause):
                yield Piece(index, pause, pause=True)
            ids = torch.tensor([sentence.ids], device=device)
            mel, _ = model.acoustic.infer(ids, gb, pace=pace, lang=lang)
            for piece in vocode_stream(model, mel, gb, vocoder, generator, temperature, folds):
                yield Piece(index, np.asarray(piece, dtype=np.float32))
    finally:
        model.train(was_training)


def synthesize(text: str, speaker: str | None = None, *, embedding: torch.Tensor | None = None,
               voice: VoiceProfile | str | os.PathLike[str] | None = None,
               model: Backbone | None = None, seed: int = 0, pace: float = 1.0,
               temperature: float = 1.0, vocoder: str = "auto",
               folds: int | None = None) -> tuple[np.ndarray, int]:
    """Speak ``text`` with a bundled ``speaker``, a speaker ``embedding`` or an adapted
    ``voice`` (a :class:`VoiceProfile` or its folder).

    Long text is split into sentences joined by short pauses. The same seed gives the
    same samples. ``vocoder`` is ``"wavenet"``, ``"griffin-lim"`` or ``"auto"`` (the one the
    checkpoint recommends). Returns (float32 waveform, sample rate).
    """
    model = model or load()
    model, g = _resolve_voice(model, speaker, embedding, voice)
    pieces = [piece.samples for piece in speech_pieces(text, model, g, seed=seed, pace=pace,
                                                       temperature=temperature, vocoder=vocoder,
                                                       folds=folds)]
    if not pieces:
        raise ValueError("the text has nothing to say")
    return np.concatenate(pieces), model.features.sample_rate
