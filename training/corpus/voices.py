"""Base voices: Debian's speech synthesizers that the training corpus is made from.

Only the voices named in :data:`TRAINING_VOICES` may be used. Every other voice on
the machine (flite ``slt``/``kal16``/``awb_time``, festival voices other than
``kal_diphone``/``ked_diphone``, MBROLA voices, ...) is reserved for evaluation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceadapt.audio import SAMPLE_RATE, decode
from voiceadapt.audio.processing import resample, to_mono

_TIMEOUT_S = 120


@dataclass(frozen=True)
class BaseVoice:
    """One synthesizer voice: ``engine`` is flite, festival or espeak-ng."""

    engine: str
    voice: str

    @property
    def name(self) -> str:
        """Short id used in speaker names: ``flite-kal``, ``espeak-en-gb-x-rp-f2``."""
        engine = "espeak" if self.engine == "espeak-ng" else self.engine
        return f"{engine}-{self.voice}".replace("+", "-").replace("_", "-")

    @property
    def tool(self) -> str:
        return {"flite": "flite", "festival": "festival", "espeak-ng": "espeak-ng"}[self.engine]


TRAINING_VOICES: tuple[BaseVoice, ...] = (
    BaseVoice("flite", "kal"),
    BaseVoice("flite", "awb"),
    BaseVoice("flite", "rms"),
    BaseVoice("festival", "kal_diphone"),
    BaseVoice("festival", "ked_diphone"),
    BaseVoice("espeak-ng", "en-us"),
    BaseVoice("espeak-ng", "en-gb-x-rp+f2"),
    BaseVoice("espeak-ng", "en-gb-scotland"),
    BaseVoice("espeak-ng", "en-029+m3"),
    BaseVoice("espeak-ng", "en-gb-x-gbclan+f4"),
    BaseVoice("espeak-ng", "en-gb-x-gbcwmd+m7"),
    BaseVoice("espeak-ng", "en-us+f3"),
)
_ALLOWED = {v.name: v for v in TRAINING_VOICES}


def voice_by_name(name: str) -> BaseVoice:
    """Look up a training voice; anything else is reserved for evaluation and refused."""
    try:
        return _ALLOWED[name]
    except KeyError:
        raise ValueError(
            f"{name!r} is not a training voice (allowed: {', '.join(_ALLOWED)}); "
            "other voices on this machine are reserved for evaluation"
        ) from None


def missing_tools(voices: tuple[BaseVoice, ...] | list[BaseVoice]) -> list[str]:
    return sorted({v.tool for v in voices if shutil.which(v.tool) is None})


def _festival_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, timeout=_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")


def synthesize_batch(voice: BaseVoice, texts: list[str]) -> list[np.ndarray]:
    """Speak each text with ``voice``; returns mono float32 waveforms at 16 kHz.

    festival runs once per batch (its start-up costs about a second); flite and
    espeak-ng start fast enough to run once per sentence.
    """
    with tempfile.TemporaryDirectory(prefix="voiceadapt-synth-") as tmp:
        paths = [Path(tmp) / f"{i}.wav" for i in range(len(texts))]
        if voice.engine == "festival":
            script = Path(tmp) / "batch.scm"
            lines = [f"(voice_{voice.voice})"]
            lines += [
                f"(utt.save.wave (SynthText {_festival_string(t)}) {_festival_string(str(p))} 'riff)"
                for t, p in zip(texts, paths, strict=True)
            ]
            script.write_text("\n".join(lines) + "\n")
            _run(["festival", "-b", str(script)])
        else:
            for text, path in zip(texts, paths, strict=True):
                if voice.engine == "flite":
                    _run(["flite", "-voice", voice.voice, "-t", text, "-o", str(path)])
                else:
                    _run(["espeak-ng", "-v", voice.voice, "-w", str(path), "--", text])
        out = []
        for path in paths:
            if not path.exists() or os.path.getsize(path) <= 44:
                raise RuntimeError(f"{voice.name} produced no audio for a sentence")
            samples, rate = decode(path)
            out.append(resample(to_mono(samples), rate, SAMPLE_RATE))
        return out
