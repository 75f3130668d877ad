"""Few-shot adaptation: fit a new voice to a backbone and keep it as a small profile."""

from voiceadapt.adapt.profile import (
    ProfileMismatch,
    VoiceProfile,
    backbone_fingerprint,
    load_profile,
    save_profile,
)
from voiceadapt.adapt.sea_enc import adapt_sea_enc

__all__ = ["ProfileMismatch", "VoiceProfile", "adapt_sea_enc", "backbone_fingerprint",
           "load_profile", "save_profile"]
