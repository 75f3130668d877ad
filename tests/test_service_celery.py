"""Scale-out: a real redis-server and a real Celery worker process run an adaptation job
that the API queued; both share the database and the voice storage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from service_helpers import free_port, local_client, voice_form, wait_for, wait_job

from server.main import create_app

ROOT = Path(__file__).resolve().parent.parent  # `python -m server` runs from the checkout



@pytest.fixture
def redis_url(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing (install it with .ci/run's apt step)")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    wait_for(lambda: redis.Redis.from_url(url).ping(), "redis-server", 20, (redis.ConnectionError,))
    yield url
    proc.terminate()
    proc.wait(10)


def test_celery_worker_runs_an_adaptation(service_settings, bundled_model, spoken_clips,
                                          redis_url, tmp_path):
    settings = service_settings.model_copy(update={"job_backend": "celery",
                                                   "redis_url": redis_url})
    env = {**os.environ, "VOICEADAPT_JOB_BACKEND": "celery", "VOICEADAPT_REDIS_URL": redis_url,
           "VOICEADAPT_DATA_DIR": str(settings.data_dir), "VOICEADAPT_ADAPT_STEPS": "3",
           "VOICEADAPT_MAX_CLIP_SECONDS": str(settings.max_clip_seconds)}
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "server", "worker", "--pool", "solo"],
                              env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        with local_client(create_app(settings, model=bundled_model)) as api:
            assert api.get("/readyz").json()["checks"]["broker"] == "ok"
            data, files = voice_form(spoken_clips, transcripts=True)
            voice = api.post("/v1/voices", data=data, files=files).json()
            job = api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "sea-all"}).json()
            done = wait_job(api, job["id"], timeout=240)
            assert done["state"] == "succeeded", (done, (tmp_path / "worker.log").read_text())
            assert done["step"] == 3 and done["heldout_loss"] is not None
            adapted = api.get(f"/v1/voices/{voice['id']}").json()
            assert adapted["mode"] == "sea-all" and adapted["profile_bytes"] > 100_000
            r = api.post("/v1/tts", json={"text": "Made by a worker.", "voice": voice["id"]})
            assert r.status_code == 200
        assert "voiceadapt.adapt" in (tmp_path / "worker.log").read_text()
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
