"""Reading and writing audio: any common format and rate in, validated 16 kHz mono out.

Decoding tries libsndfile (WAV, FLAC, OGG/Vorbis/Opus, MP3) and falls back to
PyAV's FFmpeg (M4A/AAC, WebM/Opus from browsers, and the rest). Every failure
ends in an :class:`~voiceadapt.audio.errors.AudioError` subclass whose message
says what is wrong with the file.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from voiceadapt.audio import processing
from voiceadapt.audio.errors import (
    ClippingWarning,
    EmptyAudioError,
    InvalidSamplesError,
    SilentAudioError,
    TooLongError,
    TooShortError,
    UndecodableAudioError,
)
from voiceadapt.audio.params import SAMPLE_RATE, AudioLimits
from voiceadapt.files import atomic_path

AudioSource = str | os.PathLike[str] | bytes | BinaryIO
_FORMATS_HINT = "WAV, FLAC, OGG, MP3, M4A or WebM"


@dataclass(frozen=True)
class Audio:
    """A validated clip: mono float32 samples in [-1, 1] at ``rate``."""

    samples: np.ndarray
    rate: int
    original_rate: int
    original_seconds: float
    speech_seconds: float

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def _as_bytes(source: AudioSource) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "uploaded audio"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return path.read_bytes(), path.name
        except OSError as exc:
            raise UndecodableAudioError(f"cannot read {path}: {exc.strerror}") from exc
    return source.read(), getattr(source, "name", "uploaded audio")


MAX_RATE = 192_000  # above this (or MAX_CHANNELS) a small file could decode into gigabytes
MAX_CHANNELS = 8


def _check_shape(rate: int, channels: int) -> None:
    if rate > MAX_RATE or channels > MAX_CHANNELS:
        raise UndecodableAudioError(
            f"{channels} channels at {rate} Hz is not a voice recording (at most "
            f"{MAX_CHANNELS} channels and {MAX_RATE} Hz)")


VALUES_PER_SECOND = 96_000  # the decoding budget: a limit's worth of 48 kHz stereo
BLOCK = 65_536  # frames decoded at a time


def _check_budget(frames: float, channels: int, rate: int, max_seconds: float) -> None:
    """Refuse, from the header alone, a file that would decode into more sample values than
    ``max_seconds`` of 48 kHz stereo: many channels at a high rate is how a small file
    becomes gigabytes (a decompression bomb)."""
    if frames / max(rate, 1) > max_seconds:
        raise TooLongError(_too_long_message(frames / rate, max_seconds))
    if frames * channels > max_seconds * VALUES_PER_SECOND:
        raise TooLongError(
            f"the recording would decode to {frames * channels / 1e6:.0f} M samples ({channels} "
            f"channels at {rate} Hz for {frames / rate:.1f} s); at most "
            f"{max_seconds * VALUES_PER_SECOND / 1e6:.0f} M are accepted: send mono, or a "
            "shorter clip")


def _decode_soundfile(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    with sf.SoundFile(io.BytesIO(data)) as f:
        _check_shape(f.samplerate, f.channels)
        if f.frames > 0 and f.samplerate > 0:
            _check_budget(f.frames, f.channels, f.samplerate, max_seconds)
        blocks, total = [], 0
        for block in f.blocks(blocksize=BLOCK, dtype="float32", always_2d=True):
            blocks.append(block.mean(axis=1, dtype=np.float32))  # mono as it is decoded
            total += len(block)
            _check_budget(total, f.channels, f.samplerate, max_seconds)  # headers can lie
        mono = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        return mono[:, None], f.samplerate


def _decode_pyav(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    import av

    chunks: list[np.ndarray] = []
    total = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise UndecodableAudioError("the file has no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(stream.codec_context.channels or 0)
        _check_shape(rate, channels)
        if rate and stream.duration and stream.time_base:
            _check_budget(float(stream.duration * stream.time_base) * rate, max(channels, 1),
                          rate, max_seconds)
        resampler = av.AudioResampler(format="fltp")
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                planar = out.to_ndarray()  # (channels, samples)
                chunks.append(planar.mean(axis=0, dtype=np.float32))  # mono as it is decoded
                total += planar.shape[1]
                if rate:
                    _check_budget(total, planar.shape[0], rate, max_seconds)
    if not rate:
        raise UndecodableAudioError("the audio stream has no sample rate")
    if not chunks:
        return np.zeros((0, 1), dtype=np.float32), rate
    return np.concatenate(chunks)[:, None], rate


def _too_long_message(seconds: float, limit: float) -> str:
    return f"the recording is {seconds:.1f} s long; the limit is {limit:.0f} s"


def decode(source: AudioSource, max_seconds: float = AudioLimits.max_seconds,
           ) -> tuple[np.ndarray, int]:
    """Decode any supported file to ``(samples (n, 1) float32, rate)``, mixed down to mono as
    it is decoded, within a budget of channels x rate x seconds checked from the header
    first. No checks on content."""
    data, name = _as_bytes(source)
    if not data:
        raise EmptyAudioError(f"{name} is empty (0 bytes)")
    try:
        return _decode_soundfile(data, max_seconds)
    except (TooLongError, UndecodableAudioError):
        raise
    except Exception:  # libsndfile does not know the container: let FFmpeg try
        pass
    try:
        return _decode_pyav(data, max_seconds)
    except (TooLongError, UndecodableAudioError):
        raise
    except Exception as exc:
        raise UndecodableAudioError(
            f"{name} is not audio we can read, or it is damaged (expected {_FORMATS_HINT})"
        ) from exc


def load_audio(source: AudioSource, limits: AudioLimits | None = None,
               rate: int = SAMPLE_RATE, normalize_loudness: bool = True) -> Audio:
    """Decode, validate and condition a reference clip.

    Steps: decode; refuse NaN/inf; warn on clipping; mono mixdown; resample to ``rate``;
    refuse silence; trim leading/trailing silence; refuse less than
    ``limits.min_clip_speech_seconds`` of speech; normalize loudness. A voice's clips
    together must also hold ``limits.min_speech_seconds``: :func:`check_total_speech`.
    """
    limits = limits or AudioLimits()
    samples, original_rate = decode(source, limits.max_seconds)
    if samples.size == 0 or original_rate <= 0:
        raise EmptyAudioError("the recording holds no samples (zero length)")
    if not np.isfinite(samples).all():
        raise InvalidSamplesError("the recording contains invalid samples (NaN or infinity)")
    original_seconds = samples.shape[0] / original_rate
    if original_seconds > limits.max_seconds:
        raise TooLongError(_too_long_message(original_seconds, limits.max_seconds))
    clipped = float(np.mean(np.abs(samples) >= 0.999))
    if clipped > limits.clipping_fraction:
        warnings.warn(
            f"{100 * clipped:.1f}% of the samples are at full scale: the recording is clipped "
            "and the voice may sound distorted; record a little quieter",
            ClippingWarning, stacklevel=2,
        )
    mono = np.clip(processing.to_mono(samples), -1.0, 1.0)
    mono = processing.resample(mono, original_rate, rate)
    if processing.frame_dbfs(mono, rate).max() <= limits.silence_dbfs:
        raise SilentAudioError("the recording is silent: no sound above the noise floor")
    mono = processing.trim_silence(mono, rate, limits.silence_dbfs)
    speech = processing.speech_seconds(mono, rate, limits.silence_dbfs)
    if speech < limits.min_clip_speech_seconds:
        raise TooShortError(
            f"the recording has {speech:.2f} s of speech; a clip needs at least "
            f"{limits.min_clip_speech_seconds:.2f} s"
        )
    if normalize_loudness:
        mono = processing.loudness_normalize(
            mono, rate, limits.target_dbfs, limits.silence_dbfs, limits.peak_limit
        )
    return Audio(samples=mono, rate=rate, original_rate=original_rate,
                 original_seconds=original_seconds, speech_seconds=speech)


def check_total_speech(clips: Sequence[Audio], limits: AudioLimits | None = None,
                       names: Sequence[str] | None = None) -> None:
    """Raise :class:`TooShortError` unless the clips hold ``limits.min_speech_seconds`` of
    speech together; the message names each clip's share and the total."""
    limits = limits or AudioLimits()
    total = sum(c.speech_seconds for c in clips)
    if total >= limits.min_speech_seconds:
        return
    names = list(names) if names is not None else [f"clip {i + 1}" for i in range(len(clips))]
    shares = ", ".join(f"{n}: {c.speech_seconds:.2f} s" for n, c in zip(names, clips, strict=True))
    raise TooShortError(
        f"the clips hold {total:.2f} s of speech in all ({shares}); a voice needs at least "
        f"{limits.min_speech_seconds:.1f} s: add a clip or record a longer phrase"
    )


def write_audio(path: str | os.PathLike[str], samples: np.ndarray, rate: int,
                format: str | None = None, subtype: str | None = None) -> Path:
    """Write atomically: a temporary file in the same folder, renamed into place when complete."""
    path = Path(path)
    fmt = format or path.suffix.lstrip(".").upper() or "WAV"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        sf.write(f, np.asarray(samples, dtype=np.float32), rate, format=fmt,
                 subtype=subtype or ("PCM_16" if fmt == "WAV" else None))
    return path


def pcm16_to_float(pcm: np.ndarray) -> np.ndarray:
    """16-bit PCM samples -> float32 in [-1, 1) (the one place for this scale)."""
    return np.asarray(pcm).astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples, clipped to [-1, 1] -> int16 PCM (the inverse of ``pcm16_to_float`` up
    to rounding; +1.0 maps to 32767)."""
    return (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)
