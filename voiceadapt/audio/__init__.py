"""Audio front-end: decoding, validation, conditioning and features."""

from voiceadapt.audio.errors import (
    AudioError,
    ClippingWarning,
    EmptyAudioError,
    FeatureParamsMismatch,
    InvalidSamplesError,
    SilentAudioError,
    TooLongError,
    TooShortError,
    UndecodableAudioError,
)
from voiceadapt.audio.features import f0, log_mel, mel_filterbank, mu_law_decode, mu_law_encode
from voiceadapt.audio.io import (
    Audio,
    check_total_speech,
    decode,
    float_to_pcm16,
    load_audio,
    pcm16_to_float,
    write_audio,
)
from voiceadapt.audio.params import SAMPLE_RATE, AudioLimits, FeatureParams

__all__ = [
    "SAMPLE_RATE", "Audio", "AudioError", "AudioLimits", "ClippingWarning", "EmptyAudioError",
    "FeatureParams", "FeatureParamsMismatch", "InvalidSamplesError", "SilentAudioError",
    "TooLongError", "TooShortError", "UndecodableAudioError", "check_total_speech", "decode", "f0",
    "float_to_pcm16", "load_audio", "log_mel", "mel_filterbank", "mu_law_decode", "mu_law_encode",
    "pcm16_to_float", "write_audio",
]
