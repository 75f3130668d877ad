"""The names a user chooses among, as Literal types: adaptation modes and vocoders.

Light enough for the CLI's parser and the service's schemas (no torch). The registries that
act on them are keyed by exactly these names and check it when imported:
``voiceadapt.adapt.modes.MODES`` and ``voiceadapt.models.vocoders.VOCODERS``.
"""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["sea-enc", "sea-emb", "sea-all", "patch"]
MODE_NAMES: tuple[str, ...] = get_args(Mode)
#: the modes that fit over many steps on transcribed clips (the service runs them as jobs)
IterativeMode = Literal["sea-emb", "sea-all", "patch"]
ITERATIVE_MODES: tuple[str, ...] = get_args(IterativeMode)

Vocoder = Literal["auto", "wavenet", "griffin-lim"]
#: "auto" means the vocoder the checkpoint recommends; the rest name real vocoders
VOCODER_NAMES: tuple[str, ...] = get_args(Vocoder)
