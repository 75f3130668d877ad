"""Few-shot adaptation: fit a new voice to a backbone and keep it as a small profile."""

from voiceadapt.adapt.fit import (
    Cancelled,
    FitConfig,
    MissingTranscriptError,
    Progress,
    adapt_patch,
    adapt_sea_all,
    adapt_sea_emb,
    apply_profile,
)
from voiceadapt.adapt.modes import MODES, AdaptationMode, adapt
from voiceadapt.adapt.profile import (
    ProfileMismatch,
    VoiceProfile,
    backbone_fingerprint,
    load_profile,
    save_profile,
)
from voiceadapt.adapt.sea_enc import adapt_sea_enc
from voiceadapt.names import MODE_NAMES, Mode

__all__ = ["MODES", "MODE_NAMES", "AdaptationMode", "Cancelled", "FitConfig",
           "MissingTranscriptError", "Mode", "ProfileMismatch", "Progress", "VoiceProfile",
           "adapt", "adapt_patch", "adapt_sea_all", "adapt_sea_emb", "adapt_sea_enc",
           "apply_profile", "backbone_fingerprint", "load_profile", "save_profile"]
