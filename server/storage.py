"""Voices on disk: ``<data_dir>/voices/<id>/clips/NN.wav`` and ``.../profile/``.

A voice folder appears whole or not at all: it is written under a temporary name and
renamed into place. Deleting a voice removes the folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from voiceadapt import adapt
from voiceadapt.adapt import VoiceProfile
from voiceadapt.audio import write_audio
from voiceadapt.files import folder_bytes
from voiceadapt.models.backbone import Backbone


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.voices = self.root / "voices"
        self.voices.mkdir(parents=True, exist_ok=True)

    def voice_dir(self, voice_id: str) -> Path:
        return self.voices / voice_id

    def voice_bytes(self, voice_id: str) -> int:
        """Bytes a voice keeps on disk (clips and profile)."""
        folder = self.voice_dir(voice_id)
        return folder_bytes(folder) if folder.exists() else 0

    def create_voice(self, voice_id: str, clips: list[np.ndarray], rate: int,
                     profile: VoiceProfile) -> Path:
        final = self.voice_dir(voice_id)
        tmp = Path(tempfile.mkdtemp(prefix=f".{voice_id}.", dir=self.voices))
        try:
            (tmp / "clips").mkdir()
            for i, samples in enumerate(clips):
                write_audio(tmp / "clips" / f"{i:02d}.wav", samples, rate)
            adapt.save_profile(profile, tmp / "profile")
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def clip_paths(self, voice_id: str) -> list[Path]:
        return sorted((self.voice_dir(voice_id) / "clips").glob("*.wav"))

    def save_profile(self, voice_id: str, profile: VoiceProfile) -> None:
        """Replace the voice's profile; ``save_profile`` writes it atomically."""
        adapt.save_profile(profile, self.voice_dir(voice_id) / "profile")

    def load_profile(self, voice_id: str, model: Backbone) -> VoiceProfile:
        return adapt.load_profile(self.voice_dir(voice_id) / "profile", model)

    def profile_bytes(self, voice_id: str) -> int:
        return folder_bytes(self.voice_dir(voice_id) / "profile")

    def delete_voice(self, voice_id: str) -> None:
        folder = self.voice_dir(voice_id)
        if folder.exists():
            trash = folder.with_name(f".deleted.{voice_id}")
            folder.rename(trash)  # gone from view at once, even if removal is interrupted
            shutil.rmtree(trash, ignore_errors=True)
