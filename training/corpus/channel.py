"""Augmentation toward real recordings: room, microphone, background noise and codec.

Synthesizer output is clean, full-band and dry; real recordings are not. Each
utterance of corpus v2 gets one :class:`Channel`, drawn per utterance from the same
distribution for every source (so a codec or a room never names a speaker): a codec
chosen uniformly from :data:`CODECS`, a synthetic room (exponentially decaying noise
impulse response), a microphone EQ (random low and high shelves), and noise at an SNR.
"""

from __future__ import annotations

import io
import random
from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

from voiceadapt.audio import SAMPLE_RATE, float_to_pcm16

CODECS = ("none", "mulaw-8k", "gsm-8k", "opus-16k", "g722")


@dataclass(frozen=True)
class Channel:
    codec: str = "none"
    rt60: float = 0.0  # seconds; 0 = dry
    wet: float = 0.0  # reverberant share of the energy
    low_shelf_db: float = 0.0  # below 300 Hz
    high_shelf_db: float = 0.0  # above 3 kHz
    snr_db: float | None = None  # None = no added noise
    noise_color: float = 0.0  # 0 white, 1 pink, 2 brown
    seed: int = 0

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r} (known: {', '.join(CODECS)})")

    @property
    def clean(self) -> bool:
        return self == Channel(seed=self.seed)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def sample_channel(rng: random.Random, clean_share: float = 0.25) -> Channel:
    """One utterance's channel; ``clean_share`` of them get none at all."""
    seed = rng.randrange(2**31)
    if rng.random() < clean_share:
        return Channel(seed=seed)
    reverb = rng.random() < 0.5
    noisy = rng.random() < 0.6
    return Channel(
        codec=rng.choice(CODECS),
        rt60=round(rng.uniform(0.15, 0.7), 3) if reverb else 0.0,
        wet=round(rng.uniform(0.1, 0.5), 3) if reverb else 0.0,
        low_shelf_db=round(rng.uniform(-8, 4), 2),
        high_shelf_db=round(rng.uniform(-10, 4), 2),
        snr_db=round(rng.uniform(12, 40), 1) if noisy else None,
        noise_color=round(rng.uniform(0, 2), 2),
        seed=seed,
    )


def _shelf(x: np.ndarray, rate: int, corner: float, gain_db: float, high: bool) -> np.ndarray:
    """A shelf: the band beyond ``corner`` (second-order Butterworth split) scaled by ``gain_db``."""
    if gain_db == 0.0:
        return x
    b, a = signal.butter(2, corner, btype="highpass" if high else "lowpass", fs=rate)
    band = signal.lfilter(b, a, x)
    return x + (10 ** (gain_db / 20) - 1) * band


def _room(x: np.ndarray, rate: int, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    ir[: int(0.002 * rate)] = 0.0  # the first reflection arrives after the direct sound
    tail = signal.fftconvolve(x, ir)[: len(x)]
    tail *= np.sqrt(np.sum(x**2) / max(np.sum(tail**2), 1e-12))
    return np.sqrt(1 - wet) * x + np.sqrt(wet) * tail


def _noise(n: int, color: float, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    noise = np.fft.irfft(spectrum / freqs ** (color / 2), n)
    return noise / (np.std(noise) + 1e-12)


def _codec(x: np.ndarray, rate: int, codec: str) -> np.ndarray:
    import soundfile as sf

    from voiceadapt.audio.processing import resample

    if codec == "none":
        return x
    if codec in ("mulaw-8k", "gsm-8k"):
        narrow = np.clip(resample(x.astype(np.float32), rate, 8000), -1, 1)
        buf = io.BytesIO()
        sf.write(buf, narrow, 8000, format="WAV", subtype="ULAW" if codec == "mulaw-8k" else "GSM610")
        buf.seek(0)
        y, _ = sf.read(buf, dtype="float32")
        return resample(y, 8000, rate)[: len(x)]
    if codec == "opus-16k":
        buf = io.BytesIO()
        sf.write(buf, np.clip(x, -1, 1).astype(np.float32), rate, format="OGG", subtype="OPUS",
                 compression_level=0.9)
        buf.seek(0)
        y, _ = sf.read(buf, dtype="float32")
        return _fit(y, len(x))
    return _g722(x, rate)


def _g722(x: np.ndarray, rate: int) -> np.ndarray:
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="g722") as out:
        stream = out.add_stream("g722", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            float_to_pcm16(x)[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf, format="g722") as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for f in inp.decode(inp.streams.audio[0]):
            chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(f)]
    return _fit(np.concatenate(chunks), len(x))


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def apply_channel(x: np.ndarray, channel: Channel, rate: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` (mono float) as heard through ``channel``; same length, float32."""
    if channel.clean:
        return x.astype(np.float32)
    rng = np.random.default_rng(channel.seed)
    y = x.astype(np.float64)
    if channel.rt60 > 0 and channel.wet > 0:
        y = _room(y, rate, channel.rt60, channel.wet, rng)
    y = _shelf(y, rate, 300.0, channel.low_shelf_db, high=False)
    y = _shelf(y, rate, 3000.0, channel.high_shelf_db, high=True)
    if channel.snr_db is not None:
        power = np.mean(y**2) + 1e-12
        y = y + np.sqrt(power / 10 ** (channel.snr_db / 10)) * _noise(len(y), channel.noise_color, rng)
    peak = np.abs(y).max()
    if peak > 0.95:
        y *= 0.95 / peak
    return _codec(y.astype(np.float32), rate, channel.codec).astype(np.float32)
