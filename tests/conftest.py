"""Shared fixtures: real audio made in the test, never downloaded.

The tests are hermetic: a developer's ``VOICEADAPT_*`` variables and ``.env`` file do not
reach them, nor the servers and workers they start (which inherit this environment)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

for _name in [n for n in os.environ if n.startswith("VOICEADAPT_")]:
    del os.environ[_name]
os.environ["VOICEADAPT_ENV_FILE"] = ""  # server/settings.py: no .env file


def speechlike(seconds: float, rate: int = 16_000, f0: float = 120.0, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-rate amplitude-modulated harmonic signal with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    x = voice * envelope + 0.01 * rng.standard_normal(len(t))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture
def speech_16k() -> np.ndarray:
    return speechlike(2.0)


def require_synthesizers() -> None:
    missing = [tool for tool in ("flite", "espeak-ng", "text2wave") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"synthesizers missing (install them with .ci/run's apt step): {missing}")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """The 'tiny' preset built once per test session from the real synthesizers."""
    from training.corpus.build import build_corpus
    from training.corpus.plan import PRESETS

    require_synthesizers()
    root = tmp_path_factory.mktemp("corpus")
    corpus, stats = build_corpus(PRESETS["tiny"], root / "tiny", workers=2, cache=root / "cache")
    return corpus, stats, root


@pytest.fixture(scope="session")
def v2_tiny_corpus(tmp_path_factory):
    """The 'v2-tiny' preset (English, a Czech synthesizer, a real Italian speaker's prompts)."""
    from pathlib import Path

    from training.corpus.build import build_corpus
    from training.corpus.plan import PRESETS

    require_synthesizers()
    if not (Path("/usr/share/asterisk/sounds/it_IT_m_Carlo").is_dir()
            and Path("/usr/share/festival/voices/czech/czech_dita").is_dir()):
        pytest.fail("corpus v2 test sources missing: install festvox-czech-dita and "
                    "asterisk-core-sounds-it-g722 (.ci/run)")
    root = tmp_path_factory.mktemp("v2")
    corpus, stats = build_corpus(PRESETS["v2-tiny"], root / "corpus", workers=1, cache=root / "cache")
    return corpus, stats, root


# -- the service -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bundled_model():
    """The bundled default model, loaded once for every service test."""
    from voiceadapt.inference import load

    return load()


@pytest.fixture(scope="session")
def spoken_clips(tmp_path_factory) -> list[tuple[bytes, str]]:
    """Real speech (flite's kal, a training voice) as WAV bytes, with what each says."""
    from training.benchmarks.soak import TEXTS, spoken_clips

    require_synthesizers()
    return spoken_clips(tmp_path_factory.mktemp("spoken"), TEXTS[:3])


@pytest.fixture
def service_settings(tmp_path):
    from server.settings import Settings

    return Settings(data_dir=tmp_path / "service", adapt_steps=3, max_upload_bytes=3_000_000,
                    max_clip_seconds=20.0, max_voice_seconds=30.0, max_text_chars=400,
                    max_jobs_per_key=2)


@pytest.fixture
def api(service_settings, bundled_model):
    """A TestClient on a fresh app (its own database and storage), the model shared."""
    from service_helpers import local_client

    from server.main import create_app

    app = create_app(service_settings, model=bundled_model)
    with local_client(app) as client:
        yield client
