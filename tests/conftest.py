"""Shared fixtures: real audio made in the test, never downloaded.

The tests are hermetic: a developer's ``VOICEADAPT_*`` variables and ``.env`` file do not
reach them, nor the servers and workers they start (which inherit this environment)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import STRICT, require, require_synthesizers, speechlike

for _name in [n for n in os.environ if n.startswith("VOICEADAPT_")]:
    del os.environ[_name]
os.environ["VOICEADAPT_ENV_FILE"] = ""  # server/settings.py: no .env file


@pytest.fixture
def speech_16k() -> np.ndarray:
    return speechlike(2.0)


#: fixtures that speak with the Debian synthesizers: a test using one is marked ``synth``
SYNTH_FIXTURES = {"tiny_corpus", "v2_tiny_corpus", "spoken_clips"}


def pytest_addoption(parser):
    parser.addoption("--require-synthesizers", action="store_true",
                     help="fail, not skip, tests whose synthesizers are missing (CI)")


def pytest_configure(config):
    STRICT["synthesizers"] = config.getoption("--require-synthesizers")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SYNTH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.synth)


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
        require("corpus v2 test sources", ["festvox-czech-dita", "asterisk-core-sounds-it-g722"])
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
