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
from voiceadapt.audio.params import SAMPLE_RATE, AudioLimits, FeatureParams

# features and io (through processing's resampler) import torch: they load on first use, so
# that what needs only the limits and parameters (the service's settings, its key commands)
# does not pay torch's start-up
_LAZY = {
    **dict.fromkeys(["f0", "log_mel", "mel_filterbank", "mu_law_decode", "mu_law_encode"],
                    "voiceadapt.audio.features"),
    **dict.fromkeys(["Audio", "check_total_speech", "decode", "float_to_pcm16", "load_audio",
                     "pcm16_to_float", "write_audio"], "voiceadapt.audio.io"),
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "SAMPLE_RATE", "Audio", "AudioError", "AudioLimits", "ClippingWarning", "EmptyAudioError",
    "FeatureParams", "FeatureParamsMismatch", "InvalidSamplesError", "SilentAudioError",
    "TooLongError", "TooShortError", "UndecodableAudioError", "check_total_speech", "decode", "f0",
    "float_to_pcm16", "load_audio", "log_mel", "mel_filterbank", "mu_law_decode", "mu_law_encode",
    "pcm16_to_float", "write_audio",
]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
