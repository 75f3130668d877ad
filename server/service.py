"""What the app holds for its lifetime: settings, the model (loaded once), the database,
voice storage, metrics and the job runner."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import torch

from server import auth
from server.db import Database
from server.metrics import Metrics
from server.rate_limit import RateLimiter
from server.settings import LOOPBACK, Settings
from server.storage import Storage
from voiceadapt.adapt import apply_profile, backbone_fingerprint
from voiceadapt.inference.synthesize import default_model_path, load
from voiceadapt.models.backbone import Backbone

VOICE_CACHE = 8  # patched models kept for recently used SEA-ALL / PATCH voices


class Runner(Protocol):
    """Runs adaptation jobs: in this process (``server.jobs.local``) or on Celery workers."""

    def start(self) -> None:
        """Take up the jobs a restart left queued (or interrupted)."""

    def submit(self, job_id: str) -> None:
        """Queue one job; raises when the queue cannot take it."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs."""


@dataclass
class Service:
    settings: Settings
    model: Backbone
    db: Database
    storage: Storage
    metrics: Metrics
    runner: Runner | None = None  # set once the app starts (server.jobs.make_runner)
    fingerprint: str = ""
    # True once the service needs keys: from the start when bound beyond loopback, and from
    # the first key ever registered on (kept in the database: revoking every key or a restart
    # does not reopen it).
    closed: bool = False
    synthesis_slots: threading.Semaphore = field(init=False)
    rate_limiter: RateLimiter = field(init=False)
    _voices: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, settings: Settings, model: Backbone | None = None) -> Service:
        db = Database(settings.sqlalchemy_url())
        if model is None:
            model = load(settings.model or default_model_path())
        return cls(settings=settings, model=model,
                   db=db, storage=Storage(settings.data_dir), metrics=Metrics(db))

    def __post_init__(self) -> None:
        self.fingerprint = self.fingerprint or backbone_fingerprint(self.model)
        self.synthesis_slots = threading.Semaphore(self.settings.max_concurrent_syntheses)
        self.rate_limiter = RateLimiter(self.settings.requests_per_minute)

    def needs_keys(self) -> bool:
        """Whether requests must carry a key (see ``closed``)."""
        if not self.closed and (self.settings.bind_host not in LOOPBACK
                                or auth.ever_keyed(self.db)):
            self.closed = True
        return self.closed

    def voice_model(self, voice_id: str, version: str) -> tuple[Backbone, torch.Tensor]:
        """(model, embedding) for a stored voice, cached by (id, version): an adapted
        profile is applied to a copy of the backbone once, not per request."""
        key = (voice_id, version)
        with self._lock:
            if key in self._voices:
                self._voices.move_to_end(key)
                return self._voices[key]
        profile = self.storage.load_profile(voice_id, self.model)
        entry = (apply_profile(self.model, profile), profile.embedding)
        with self._lock:
            self._voices[key] = entry
            while len(self._voices) > VOICE_CACHE:
                self._voices.popitem(last=False)
        return entry

    def forget_voice(self, voice_id: str) -> None:
        with self._lock:
            for key in [k for k in self._voices if k[0] == voice_id]:
                del self._voices[key]

    def close(self) -> None:
        self.db.close()
