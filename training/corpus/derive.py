"""Derived speakers: WORLD analysis/resynthesis of a base voice with new voice parameters.

F0 scale moves the pitch, a spectral-envelope frequency warp moves the formants
(a shorter or longer vocal tract), the rate changes tempo without changing pitch,
and breathiness raises the aperiodicity (more noise in the excitation).
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

    def __post_init__(self) -> None:
        if not (0.3 <= self.f0_scale <= 3.0 and 0.7 <= self.warp <= 1.4 and 0.5 <= self.rate <= 2.0
                and 0.0 <= self.breathiness <= 0.9):
            raise ValueError(f"speaker parameters out of range: {self}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

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
    f0 = f0 * params.f0_scale
    if params.warp != 1.0:
        sp = _warp_envelope(sp, params.warp)
    if params.breathiness > 0:
        ap = 1.0 - (1.0 - ap) * (1.0 - params.breathiness)
    y = pyworld.synthesize(
        np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap),
        rate, FRAME_PERIOD_MS / params.rate,
    )
    return y.astype(np.float32)
