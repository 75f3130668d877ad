"""Service settings from the environment (``VOICEADAPT_*``) or a ``.env`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from voiceadapt.audio import AudioLimits

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Settings(BaseSettings):
    # VOICEADAPT_ENV_FILE names another .env file; empty: none (the tests run so)
    model_config = SettingsConfigDict(env_prefix="VOICEADAPT_",
                                      env_file=os.environ.get("VOICEADAPT_ENV_FILE", ".env") or None,
                                      extra="ignore")

    # model and storage
    model: str | None = Field(None, description="checkpoint path; empty: the bundled model")
    data_dir: Path = Field(Path("data/service"), description="voices' audio and profiles")
    database_url: str | None = Field(None, description="SQLAlchemy URL; empty: SQLite in data_dir")

    wavenet_folds: int = Field(0, ge=0, le=16, description="WaveNet pieces generated side by "
                               "side per utterance; 1 = exact unfolded generation; 0 = one per core")
    malloc_arenas: int = Field(2, ge=0, le=64, description="glibc malloc arenas for the "
                               "process's threads (server/allocator.py); 0 = glibc's default")
    malloc_trim_s: float = Field(5.0, ge=0, description="seconds between handing the C "
                                 "allocator's free memory back to the system; 0 = never")

    # jobs
    job_backend: Literal["local", "celery"] = "local"
    local_workers: int = Field(1, ge=0, description="in-process adaptation threads (0: none)")
    redis_url: str = "redis://localhost:6379/0"
    adapt_steps: int = Field(60, ge=1, description="optimizer steps per adaptation stage")
    max_job_attempts: int = Field(2, ge=1, description="runs a job gets across restarts")

    # security and limits
    bootstrap_api_key: SecretStr | None = Field(
        None, description="an API key registered (hashed) at start-up, e.g. for docker-compose")
    cors_origins: list[str] = Field(default_factory=list)
    metrics_public: bool = Field(False, description="serve /metrics without a key on a server "
                                 "that has keys (for a scraper on a private network)")
    bind_host: str = Field("127.0.0.1", description="the address the server listens on (set by "
                           "`python -m server serve`); beyond loopback every request needs a key")
    max_upload_bytes: int = 20 * 1024 * 1024
    max_json_bytes: int = Field(1024 * 1024, description="any request body that is not an upload")
    body_idle_timeout_s: float = Field(15.0, gt=0, description="longest pause inside a request body")
    body_timeout_s: float = Field(120.0, gt=0, description="longest time to receive a request body")
    max_clip_seconds: float = 300.0
    max_voice_seconds: float = 300.0
    max_clips: int = 20
    min_speech_seconds: float = Field(1.0, description="speech a voice needs, all clips together")
    min_clip_speech_seconds: float = Field(0.25, description="speech each clip needs")
    max_text_chars: int = 5000
    max_text_phonemes: int = Field(8000, description="a text's length read out (about 10 "
                                   "minutes of speech): numbers and abbreviations expand")
    max_audio_seconds: float = Field(900.0, description="audio one request may produce; the "
                                     "synthesis stops there")
    max_concurrent_syntheses: int = Field(2, ge=1, description="syntheses running at once "
                                          "(about one per core); others wait, then get 503")
    synthesis_queue_s: float = Field(30.0, ge=0, description="how long a request waits for a "
                                     "synthesis slot before its 503")
    max_jobs_per_key: int = 2
    max_voices_per_key: int = Field(100, ge=1, description="voices one key may keep")
    max_stored_bytes_per_key: int = Field(500 * 1024 * 1024, description="disk one key's voices "
                                          "may use (clips and profiles)")
    requests_per_minute: int = Field(600, ge=0, description="requests one key (or, on an open "
                                     "server, everyone) may make per minute; 0: no limit")

    # logs
    log_json: bool = True

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'voiceadapt.db'}"

    def audio_limits(self) -> AudioLimits:
        """The reference-clip limits these settings set (the one conversion)."""
        return AudioLimits(max_seconds=self.max_clip_seconds,
                           min_speech_seconds=self.min_speech_seconds,
                           min_clip_speech_seconds=self.min_clip_speech_seconds)
