"""Audio constants and the feature parameters every checkpoint stores.

Derived values are properties, so there is one place for each number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from voiceadapt.audio.errors import FeatureParamsMismatch

SAMPLE_RATE = 16_000
"""The model rate: every clip is resampled to this."""

MU_LAW_CHANNELS = 256
"""8-bit mu-law: the WaveNet's categorical output size."""


@dataclass(frozen=True)
class FeatureParams:
    """Log-mel and F0 analysis settings. Frozen and hashable: the mel filterbank cache keys on it."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    win_length: int = 800  # 50 ms
    hop_length: int = 200  # 12.5 ms -> 80 frames per second
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    log_floor: float = 1e-5  # log(max(mel, floor)): about -11.5 for silence
    f0_floor: float = 50.0  # Hz, lowest F0 searched (pyworld dio + stonemask)
    f0_ceil: float = 600.0

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError("win_length must not exceed n_fft")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError("need 0 <= f_min < f_max <= sample_rate / 2")

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def frame_period_ms(self) -> float:
        return 1000.0 * self.hop_length / self.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Frames the (centered) analysis yields for ``num_samples`` samples."""
        return num_samples // self.hop_length + 1

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, float | int]) -> FeatureParams:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FeatureParamsMismatch(f"unknown feature parameters: {sorted(unknown)}")
        return cls(**data)

    def check_compatible(self, other: FeatureParams) -> None:
        """Raise :class:`FeatureParamsMismatch` naming each setting that differs."""
        diffs = [
            f"{name}: {getattr(other, name)} != {getattr(self, name)}"
            for name in (f.name for f in fields(self))
            if getattr(other, name) != getattr(self, name)
        ]
        if diffs:
            raise FeatureParamsMismatch("feature parameters differ: " + "; ".join(diffs))


@dataclass(frozen=True)
class AudioLimits:
    """What a usable reference clip looks like. The service sets its own values."""

    # speech a voice needs in all its clips together (people record short phrases)
    min_speech_seconds: float = 1.0
    min_clip_speech_seconds: float = 0.25  # below this a clip is noise, a click or a breath
    max_seconds: float = 300.0
    silence_dbfs: float = -60.0  # a frame quieter than this is silence
    clipping_fraction: float = 0.001  # warn when more samples than this sit at full scale
    target_dbfs: float = -23.0  # loudness of active speech after normalization
    peak_limit: float = 0.95
