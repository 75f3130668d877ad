"""Audio front-end: every format in, 16 kHz mono out; every bad input a typed, readable error."""

from __future__ import annotations

import io
import warnings

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import speechlike

from voiceadapt.audio import (
    SAMPLE_RATE,
    AudioLimits,
    ClippingWarning,
    EmptyAudioError,
    FeatureParams,
    FeatureParamsMismatch,
    InvalidSamplesError,
    SilentAudioError,
    TooLongError,
    TooShortError,
    UndecodableAudioError,
    check_total_speech,
    f0,
    load_audio,
    log_mel,
    mel_filterbank,
    mu_law_decode,
    mu_law_encode,
    write_audio,
)


def encode_soundfile(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def encode_pyav(samples: np.ndarray, rate: int, container: str, codec: str) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame_size = 960 if codec == "libopus" else 1024
        pcm = (samples * 32767).astype(np.int16)
        for start in range(0, len(pcm), frame_size):
            chunk = pcm[start : start + frame_size][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "rate"),
    [("WAV", 16_000), ("WAV", 44_100), ("FLAC", 22_050), ("OGG", 48_000), ("MP3", 44_100),
     ("M4A", 48_000), ("WEBM", 48_000)],
)
def test_formats_and_rates_load_to_16k_mono(fmt, rate):
    speech = speechlike(2.0, rate)
    stereo = np.stack([speech, 0.5 * speech], axis=1)
    if fmt == "M4A":
        data = encode_pyav(speech, rate, "mp4", "aac")
    elif fmt == "WEBM":
        data = encode_pyav(speech, rate, "webm", "libopus")
    else:
        data = encode_soundfile(stereo, rate, fmt)
    audio = load_audio(data)
    assert audio.rate == SAMPLE_RATE and audio.original_rate == rate
    assert audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert 1.7 < audio.seconds < 2.3
    # loudness normalized: active speech near -23 dBFS, peaks limited
    assert np.abs(audio.samples).max() <= 0.95 + 1e-6
    rms_db = 20 * np.log10(np.sqrt(np.mean(audio.samples**2)))
    assert -30 < rms_db < -18


def test_leading_and_trailing_silence_is_trimmed(speech_16k):
    padded = np.concatenate([np.zeros(16_000 * 2), speech_16k, np.zeros(16_000 * 3)])
    audio = load_audio(encode_soundfile(padded, 16_000, "WAV"))
    assert audio.original_seconds == pytest.approx(7.0)
    assert audio.seconds < 2.5


def test_loads_from_path_and_write_is_atomic(tmp_path, speech_16k):
    path = write_audio(tmp_path / "clip.flac", speech_16k, 16_000)
    assert load_audio(path).seconds > 1.5
    assert [p.name for p in tmp_path.iterdir()] == ["clip.flac"]
    with pytest.raises(ValueError):
        write_audio(tmp_path / "bad.wav", np.zeros((2, 2, 2)), 16_000)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.flac"]  # no half-written file


def test_random_bytes_are_undecodable():
    data = np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    with pytest.raises(UndecodableAudioError, match="not audio we can read"):
        load_audio(data)


def test_renamed_text_file_is_undecodable(tmp_path):
    fake = tmp_path / "voice.wav"
    fake.write_text("This is a shopping list, not a recording.\n" * 50)
    with pytest.raises(UndecodableAudioError, match="voice.wav is not audio"):
        load_audio(fake)


def test_truncated_header_is_undecodable(speech_16k):
    data = encode_soundfile(speech_16k, 16_000, "FLAC")
    with pytest.raises(UndecodableAudioError):
        load_audio(data[:30])


def test_truncated_wav_keeps_what_arrived(speech_16k):
    data = encode_soundfile(speech_16k, 16_000, "WAV", "PCM_16")
    audio = load_audio(data[: 44 + 2 * 24_000])  # 1.5 s of the 2 s arrived
    assert audio.original_seconds == pytest.approx(1.5, abs=0.01)


def test_zero_bytes_and_zero_samples_are_empty(speech_16k):
    with pytest.raises(EmptyAudioError, match="0 bytes"):
        load_audio(b"")
    header_only = encode_soundfile(speech_16k[:0], 16_000, "WAV")
    with pytest.raises(EmptyAudioError, match="zero length"):
        load_audio(header_only)


def test_nan_and_inf_samples_are_refused(speech_16k):
    for bad in (np.nan, np.inf):
        x = speech_16k.copy()
        x[1000] = bad
        with pytest.raises(InvalidSamplesError, match="NaN or infinity"):
            load_audio(encode_soundfile(x, 16_000, "WAV", "FLOAT"))


def test_all_silence_is_refused():
    quiet = np.random.default_rng(0).standard_normal(32_000).astype(np.float32) * 1e-5
    with pytest.raises(SilentAudioError, match="silent"):
        load_audio(encode_soundfile(quiet, 16_000, "WAV"))
    with pytest.raises(SilentAudioError):
        load_audio(encode_soundfile(np.zeros(32_000), 16_000, "WAV"))


def test_short_clips_count_toward_the_voice_total():
    """A half-second phrase is a usable clip; a voice needs 1 s of speech in all clips."""
    short = np.concatenate([speechlike(0.5), np.zeros(16_000)])
    clip = load_audio(encode_soundfile(short, 16_000, "WAV"))
    assert 0.4 < clip.speech_seconds < 0.7
    with pytest.raises(TooShortError, match=r"0\.\d\d s of speech in all \(a\.wav: 0\.\d\d s\); "
                       r"a voice needs at least 1\.0 s"):
        check_total_speech([clip], names=["a.wav"])
    check_total_speech([clip, clip, clip])  # three short phrases make a voice
    blip = np.concatenate([speechlike(0.1), np.zeros(16_000)])
    with pytest.raises(TooShortError, match="a clip needs at least 0.25 s"):
        load_audio(encode_soundfile(blip, 16_000, "WAV"))


def test_longer_than_limit_is_refused_before_decoding_all(speech_16k):
    long = np.tile(speech_16k, 5)  # 10 s
    limits = AudioLimits(max_seconds=6.0)
    with pytest.raises(TooLongError, match="limit is 6 s"):
        load_audio(encode_soundfile(long, 16_000, "WAV"), limits)
    with pytest.raises(TooLongError):
        load_audio(encode_pyav(np.tile(speechlike(2.0, 48_000), 5), 48_000, "mp4", "aac"), limits)


def test_heavy_clipping_warns_but_loads(speech_16k):
    clipped = np.clip(speech_16k * 20, -1, 1)
    with pytest.warns(ClippingWarning, match="clipped"):
        audio = load_audio(encode_soundfile(clipped, 16_000, "WAV"))
    assert audio.seconds > 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(encode_soundfile(speech_16k, 16_000, "WAV"))  # clean input: no warning


def test_log_mel_shape_and_cached_filterbank(speech_16k):
    params = FeatureParams()
    mel = log_mel(speech_16k, params)
    assert mel.shape == (params.n_mels, params.num_frames(len(speech_16k)))
    assert torch.isfinite(mel).all()
    assert mel_filterbank(params) is mel_filterbank(FeatureParams())
    batch = log_mel(np.stack([speech_16k, speech_16k]), params)
    assert torch.allclose(batch[0], mel, atol=1e-4)


def test_feature_params_stored_and_checked():
    params = FeatureParams()
    assert FeatureParams.from_dict(params.to_dict()) == params
    other = FeatureParams(hop_length=160)
    with pytest.raises(FeatureParamsMismatch, match="hop_length: 160 != 200"):
        params.check_compatible(other)
    with pytest.raises(FeatureParamsMismatch, match="unknown"):
        FeatureParams.from_dict(params.to_dict() | {"hop": 1})


def test_f0_tracks_pitch_and_voicing():
    params = FeatureParams()
    speech = speechlike(2.0, f0=150.0)
    hz, voiced = f0(np.concatenate([speech, np.zeros(8000, np.float32)]), params)
    assert len(hz) == params.num_frames(40_000)
    assert voiced[:150].mean() > 0.5 and not voiced[-20:].any()
    assert 135 < np.median(hz[voiced]) < 165


def test_mu_law_round_trip():
    x = torch.linspace(-1, 1, 10_001)
    classes = mu_law_encode(x)
    assert classes.min() == 0 and classes.max() == 255
    err = (mu_law_decode(classes) - x).abs()
    assert err.max() < 0.025
    assert err[4990:5011].max() < 1e-3  # fine resolution near zero
