"""Derived speakers: WORLD analysis/resynthesis of a base voice with new voice parameters.

F0 scale moves the pitch and F0 range widens or flattens the intonation around the
utterance's mean; a spectral-envelope frequency warp moves the formants (a shorter or
longer vocal tract); tilt brightens or darkens the envelope; the rate changes tempo
without changing pitch; breathiness raises the aperiodicity (more noise in the
excitation); jitter and shimmer perturb the period and amplitude frame by frame.
Defaults leave a voice as it was, so the ``default`` corpus's speakers are unchanged.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import numpy as np

from voiceadapt.audio import SAMPLE_RATE

FRAME_PERIOD_MS = 5.0


@dataclass(frozen=True)
class SpeakerParams:
    """How a derived speaker differs from its base voice."""

    f0_scale: float = 1.0  # multiplies F0
    warp: float = 1.0  # > 1 moves formants up (shorter vocal tract)
    rate: float = 1.0  # > 1 speaks faster
    breathiness: float = 0.0  # 0 = as analysed, 1 = fully aperiodic
    # multiplies log-F0 deviations from the utterance's mean (< 1 flatter, > 1 livelier)
    f0_range: float = 1.0
    tilt_db: float = 0.0  # spectral tilt in dB per octave above 500 Hz (< 0 darker)
    jitter: float = 0.0  # relative std of frame-to-frame F0 perturbation
    shimmer: float = 0.0  # relative std of frame-to-frame amplitude perturbation

    def __post_init__(self) -> None:
        if not (0.3 <= self.f0_scale <= 3.0 and 0.7 <= self.warp <= 1.4 and 0.5 <= self.rate <= 2.0
                and 0.0 <= self.breathiness <= 0.9 and 0.3 <= self.f0_range <= 2.0
                and -6.0 <= self.tilt_db <= 6.0 and 0.0 <= self.jitter <= 0.05
                and 0.0 <= self.shimmer <= 0.3):
            raise ValueError(f"speaker parameters out of range: {self}")

    @property
    def identity(self) -> bool:
        return self == SpeakerParams()

    def to_dict(self) -> dict[str, float]:
        """Only the fields that differ from the defaults (older corpora keep their records)."""
        base = asdict(SpeakerParams())
        return {k: v for k, v in asdict(self).items()
                if k in ("f0_scale", "warp", "rate", "breathiness") or v != base[k]}

    def distance(self, other: SpeakerParams) -> float:
        """A rough perceptual distance: log-ratios of pitch/warp/rate plus breathiness."""
        return math.sqrt(
            math.log(self.f0_scale / other.f0_scale) ** 2
            + (4 * math.log(self.warp / other.warp)) ** 2
            + math.log(self.rate / other.rate) ** 2
            + (self.breathiness - other.breathiness) ** 2
        )


def sample_params(count: int, seed: int) -> list[SpeakerParams]:
    """``count`` spread-out parameter sets: stratified pitch and warp, random rate and breath.

    Pitch strata are log-spaced over [0.7, 1.6]; warp follows pitch loosely (higher voices
    tend to have shorter vocal tracts) with its own jitter.
    """
    rng = random.Random(seed)
    strata = list(range(count))
    rng.shuffle(strata)
    out = []
    lo, hi = math.log(0.7), math.log(1.6)
    for k in strata:
        u = (k + rng.random()) / count
        f0_scale = math.exp(lo + u * (hi - lo))
        warp = 0.9 + 0.2 * min(1.0, max(0.0, u + rng.uniform(-0.25, 0.25)))
        out.append(SpeakerParams(
            f0_scale=round(f0_scale, 4),
            warp=round(warp, 4),
            rate=round(rng.uniform(0.88, 1.12), 4),
            breathiness=round(rng.uniform(0.0, 0.35), 4),
        ))
    return out


def sample_wide_params(count: int, seed: int) -> list[SpeakerParams]:
    """``count`` parameter sets drawn from continuous ranges wide enough to cross sex.

    F0 scale log-uniform over [0.55, 1.9] by strata; the vocal-tract warp follows pitch
    loosely over [0.82, 1.22]; F0 range, tilt, breathiness, rate, jitter and shimmer are
    drawn independently. A quarter of the speakers keep the base voice's vocal tract
    (warp 1) so derived speakers do not all sound processed.
    """
    rng = random.Random(seed)
    strata = list(range(count))
    rng.shuffle(strata)
    lo, hi = math.log(0.55), math.log(1.9)
    out = []
    for k in strata:
        u = (k + rng.random()) / count
        warp = 0.82 + 0.40 * min(1.0, max(0.0, u + rng.uniform(-0.3, 0.3)))
        out.append(SpeakerParams(
            f0_scale=round(math.exp(lo + u * (hi - lo)), 4),
            warp=1.0 if rng.random() < 0.25 else round(warp, 4),
            rate=round(rng.uniform(0.85, 1.15), 4),
            breathiness=round(rng.uniform(0.0, 0.45), 4),
            f0_range=round(math.exp(rng.uniform(math.log(0.6), math.log(1.6))), 4),
            tilt_db=round(rng.uniform(-3.0, 2.0), 3),
            jitter=round(rng.uniform(0.0, 0.02), 4),
            shimmer=round(rng.uniform(0.0, 0.12), 4),
        ))
    return out


def _warp_envelope(sp: np.ndarray, warp: float) -> np.ndarray:
    """Resample each frame's spectral envelope along frequency: ``new(f) = old(f / warp)``."""
    bins = sp.shape[1]
    src = np.arange(bins) / warp
    lo = np.clip(np.floor(src).astype(int), 0, bins - 1)
    hi = np.clip(lo + 1, 0, bins - 1)
    frac = np.clip(src - lo, 0.0, 1.0)
    return sp[:, lo] * (1 - frac) + sp[:, hi] * frac


def transform(samples: np.ndarray, params: SpeakerParams, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resynthesize ``samples`` (mono float) as the derived speaker; returns float32."""
    import pyworld

    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0, times = pyworld.dio(x, rate, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, f0, times, rate)
    sp = pyworld.cheaptrick(x, f0, times, rate)
    ap = pyworld.d4c(x, f0, times, rate)
    voiced = f0 > 0
    if params.f0_range != 1.0 and voiced.any():
        log_f0 = np.log(f0[voiced])
        f0[voiced] = np.exp(log_f0.mean() + params.f0_range * (log_f0 - log_f0.mean()))
    f0 = f0 * params.f0_scale
    rng = np.random.default_rng(int(1e6 * (params.f0_scale + params.warp + params.rate)) + len(x))
    if params.jitter > 0:
        f0 = f0 * (1.0 + params.jitter * rng.standard_normal(len(f0)))
    if params.warp != 1.0:
        sp = _warp_envelope(sp, params.warp)
    if params.tilt_db != 0.0:
        freqs = np.linspace(0, rate / 2, sp.shape[1])
        octaves = np.log2(np.maximum(freqs, 500.0) / 500.0)
        sp = sp * (10.0 ** (params.tilt_db * octaves / 10.0))[None, :]  # power envelope
    if params.shimmer > 0:
        sp = sp * np.exp(2 * params.shimmer * rng.standard_normal(len(sp)))[:, None]
    if params.breathiness > 0:
        ap = 1.0 - (1.0 - ap) * (1.0 - params.breathiness)
    y = pyworld.synthesize(
        np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap),
        rate, FRAME_PERIOD_MS / params.rate,
    )
    return y.astype(np.float32)
