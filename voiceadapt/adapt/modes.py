"""The adaptation modes, in one registry: each name, what it needs and the function that fits it.

The CLI, the service's jobs and the benchmarks dispatch through ``MODES`` (or ``adapt``); a
new mode is added here and its name in ``voiceadapt.names``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voiceadapt.adapt.fit import (
    CancelFn,
    FitConfig,
    ProgressFn,
    adapt_patch,
    adapt_sea_all,
    adapt_sea_emb,
)
from voiceadapt.adapt.profile import VoiceProfile
from voiceadapt.adapt.sea_enc import adapt_sea_enc
from voiceadapt.audio import AudioLimits
from voiceadapt.audio.io import AudioSource
from voiceadapt.models.backbone import Backbone
from voiceadapt.names import ITERATIVE_MODES, MODE_NAMES, Mode

Fitter = Callable[..., VoiceProfile]


@dataclass(frozen=True)
class AdaptationMode:
    """One adaptation mode: its name, its fitter and what it needs."""

    name: Mode
    fit: Fitter
    #: fits on what was said, so every clip needs its transcript
    needs_transcripts: bool
    #: fits over many steps (the service runs it as a job); otherwise one forward pass
    iterative: bool
    #: one line for help texts and API docs
    summary: str


def _sea_enc(model: Backbone, clips: Sequence[AudioSource], transcripts: Sequence[str | None] = (),
             cfg: FitConfig | None = None, name: str = "", progress: ProgressFn | None = None,
             cancel: CancelFn | None = None, limits: AudioLimits | None = None) -> VoiceProfile:
    """SEA-ENC with the fitters' signature: one forward pass, so no steps to report or cancel."""
    return adapt_sea_enc(model, clips, name=name, limits=limits)


MODES: dict[str, AdaptationMode] = {mode.name: mode for mode in (
    AdaptationMode("sea-enc", _sea_enc, False, False,
                   "the encoder predicts the speaker embedding: one forward pass, no transcript"),
    AdaptationMode("sea-emb", adapt_sea_emb, True, True,
                   "fits the speaker embedding to the clips, the backbone unchanged"),
    AdaptationMode("sea-all", adapt_sea_all, True, True,
                   "fits the embedding, then fine-tunes every weight (stored as a delta)"),
    AdaptationMode("patch", adapt_patch, True, True,
                   "fits the embedding, then the norms and biases only (a small patch)"),
)}
if tuple(MODES) != MODE_NAMES or ITERATIVE_MODES != tuple(m for m in MODES if MODES[m].iterative):
    raise ImportError("voiceadapt.names and the MODES registry disagree")


def mode(name: str) -> AdaptationMode:
    """The registry entry, or a ValueError naming the choices."""
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"unknown adaptation mode {name!r}; one of "
                         f"{', '.join(MODE_NAMES)}") from None


def adapt(model: Backbone, mode_name: str, clips: Sequence[AudioSource],
          transcripts: Sequence[str | None] = (), cfg: FitConfig | None = None, name: str = "",
          progress: ProgressFn | None = None, cancel: CancelFn | None = None,
          limits: AudioLimits | None = None) -> VoiceProfile:
    """Fit a voice with the named mode (``MODES``); SEA-ENC ignores transcripts and ``cfg``."""
    return mode(mode_name).fit(model, clips, list(transcripts), cfg=cfg, name=name,
                               progress=progress, cancel=cancel, limits=limits)
