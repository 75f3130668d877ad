"""PostgreSQL by URL: a real server (Debian's postgresql, started in a temporary folder)
holds the voices and jobs, and they outlive the app."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from service_helpers import (
    LiveServer,
    concurrent_adapts,
    free_port,
    local_client,
    voice_form,
    wait_for,
    wait_job,
)

from server.main import create_app


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail("PostgreSQL is missing (install it with .ci/run's apt step)")
    return found[-1]


@pytest.fixture
def postgres_url():
    # not under pytest's tmp_path: its parents are private to root, and the server may run
    # as the postgres user
    root = Path(tempfile.mkdtemp(prefix="voiceadapt-pg-"))
    data = root / "pg"
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, _bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*as_user, _bin("postgres"), "-D", str(data), "-p", str(port),
                             "-k", str(root), "-c", "listen_addresses=127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    import psycopg

    wait_for(lambda: psycopg.connect(f"host=127.0.0.1 port={port} user=postgres "
                                     "dbname=postgres").close(),
             "postgres", 30, (psycopg.OperationalError,), poll=0.2)
    yield url
    proc.terminate()
    proc.wait(20)
    shutil.rmtree(root, ignore_errors=True)


def test_voices_and_jobs_in_postgres(service_settings, bundled_model, spoken_clips,
                                     postgres_url):
    settings = service_settings.model_copy(update={"database_url": postgres_url})
    with local_client(create_app(settings, model=bundled_model)) as api:
        data, files = voice_form(spoken_clips[:2], transcripts=True, name="pg voice")
        voice = api.post("/v1/voices", data=data, files=files).json()
        job = api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "sea-emb"}).json()
        assert wait_job(api, job["id"])["state"] == "succeeded"
    with local_client(create_app(settings, model=bundled_model)) as api:
        voices = api.get("/v1/voices").json()
        assert [(v["id"], v["mode"]) for v in voices] == [(voice["id"], "sea-emb")]
        assert api.post("/v1/tts", json={"text": "Stored in Postgres.",
                                         "voice": "pg voice"}).status_code == 200


def test_job_limit_holds_under_concurrent_requests_in_postgres(service_settings, bundled_model,
                                                               spoken_clips, postgres_url):
    import httpx

    settings = service_settings.model_copy(update={"database_url": postgres_url,
                                                   "local_workers": 0})
    with LiveServer(create_app(settings, model=bundled_model)) as server:
        data, files = voice_form(spoken_clips[:2], transcripts=True)
        voice = httpx.post(f"{server.url}/v1/voices", data=data, files=files, timeout=60).json()
        assert concurrent_adapts(server.url, voice["id"], 8) == [202, 202] + [429] * 6
