"""Output audio: resampling and the formats the API offers (libsndfile; no ffmpeg)."""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

from voiceadapt.audio import float_to_pcm16
from voiceadapt.audio.processing import resample

# format -> (media type, libsndfile format, subtype)
FORMATS: dict[str, tuple[str, str | None, str | None]] = {
    "wav": ("audio/wav", "WAV", "PCM_16"),
    "flac": ("audio/flac", "FLAC", "PCM_16"),
    "opus": ("audio/ogg", "OGG", "OPUS"),
    "ogg": ("audio/ogg", "OGG", "OPUS"),
    "mp3": ("audio/mpeg", "MP3", "MPEG_LAYER_III"),
    "pcm": ("audio/L16", None, None),  # raw signed 16-bit little-endian mono
}
STREAMABLE = ("wav", "pcm")
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


class FormatError(ValueError):
    pass


def check_output(fmt: str, rate: int) -> None:
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if rate not in RATES:
        raise FormatError(f"sample_rate {rate} is not offered; choose one of "
                          f"{', '.join(map(str, RATES))}")
    if fmt in ("opus", "ogg") and rate not in OPUS_RATES:
        raise FormatError(f"Opus needs one of {OPUS_RATES} Hz")


def media_type(fmt: str) -> str:
    return FORMATS[fmt][0]


def to_rate(samples: np.ndarray, rate: int, out_rate: int) -> np.ndarray:
    return samples if rate == out_rate else resample(samples, rate, out_rate)


def pcm16(samples: np.ndarray) -> bytes:
    return float_to_pcm16(samples).astype("<i2").tobytes()


def encode(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """The whole clip in ``fmt`` (``samples`` already at ``rate``)."""
    _, container, subtype = FORMATS[fmt]
    if container is None:
        return pcm16(samples)
    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), rate, format=container, subtype=subtype)
    return buf.getvalue()


def wav_stream_header(rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes set to the maximum,
    as ffmpeg and browsers expect for live WAV)."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", unknown))
