"""Service settings from the environment (``VOICEADAPT_*``) or a ``.env`` file."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOICEADAPT_", env_file=".env", extra="ignore")

    max_upload_bytes: int = 20 * 1024 * 1024
    max_clip_seconds: float = 300.0
    min_speech_seconds: float = 1.0
    max_text_chars: int = 5000
