"""The names a user chooses among, as Literal types: adaptation modes and vocoders.

Light enough for the CLI's parser and the service's schemas (no torch). What acts on them:
``voiceadapt.adapt.modes.MODES`` (keyed by exactly these modes, checked when imported) and
``voiceadapt.models.vocoders.resolve_vocoder``.
"""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["sea-enc", "sea-emb", "sea-all", "patch"]
MODE_NAMES: tuple[str, ...] = get_args(Mode)
#: the modes that fit over many steps on transcribed clips (the service runs them as jobs)
IterativeMode = Literal["sea-emb", "sea-all", "patch"]
ITERATIVE_MODES: tuple[str, ...] = get_args(IterativeMode)

#: the vocoders themselves
VocoderName = Literal["wavenet", "griffin-lim"]
VOCODERS: tuple[str, ...] = get_args(VocoderName)
#: what a user may ask for: a vocoder, or "auto" for the one the checkpoint recommends
Vocoder = Literal["auto", VocoderName]
VOCODER_NAMES: tuple[str, ...] = get_args(Vocoder)
