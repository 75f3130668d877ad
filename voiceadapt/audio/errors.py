"""Errors and warnings the audio front-end raises; messages are written for the uploader."""


class AudioError(ValueError):
    """Base class: the audio cannot be used, and the message says why."""


class UndecodableAudioError(AudioError):
    """The bytes are not audio in a format we can read, or the file is damaged."""


class EmptyAudioError(AudioError):
    """The file decodes but holds no samples."""


class InvalidSamplesError(AudioError):
    """The samples contain NaN or infinite values."""


class SilentAudioError(AudioError):
    """The recording holds no sound above the noise floor."""


class TooShortError(AudioError):
    """There is less speech than the minimum."""


class TooLongError(AudioError):
    """The recording is longer than the configured limit."""


class FeatureParamsMismatch(ValueError):
    """Features were made with different parameters than the model expects."""


class ClippingWarning(UserWarning):
    """Many samples sit at full scale: the recording is clipped and will sound distorted."""
