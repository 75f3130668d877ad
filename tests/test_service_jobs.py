"""Adaptation jobs through the API: progress, results, cancellation, limits, and jobs
surviving a restart of the app (same database and storage)."""

from __future__ import annotations

import time

import pytest
from helpers import require_synthesizers
from service_helpers import local_client, voice_form, wait_job

from server.db import Job
from server.main import create_app


def test_adaptation_job_changes_the_voice(api, spoken_clips):
    data, files = voice_form(spoken_clips, transcripts=True)
    voice = api.post("/v1/voices", data=data, files=files).json()
    before = api.post("/v1/tts", json={"text": "Adapted speech.", "voice": voice["id"]}).content
    r = api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "sea-emb"})
    assert r.status_code == 202 and r.json()["state"] in ("queued", "running")
    job = wait_job(api, r.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["step"] == job["steps"] == 3 and job["loss"] > 0 and job["seconds"] > 0
    assert api.get(f"/v1/voices/{voice['id']}").json()["mode"] == "sea-emb"
    after = api.post("/v1/tts", json={"text": "Adapted speech.", "voice": voice["id"]}).content
    assert after != before
    assert job["id"] in [j["id"] for j in api.get("/v1/jobs").json()]


def test_voice_created_with_a_weight_mode(api, spoken_clips):
    data, files = voice_form(spoken_clips, transcripts=True, mode="patch")
    voice = api.post("/v1/voices", data=data, files=files).json()
    assert voice["mode"] == "sea-enc" and voice["job"]["mode"] == "patch"
    job = wait_job(api, voice["job"]["id"])
    assert job["state"] == "succeeded" and job["heldout_loss"] is not None, job
    adapted = api.get(f"/v1/voices/{voice['id']}").json()
    assert adapted["mode"] == "patch" and adapted["profile_bytes"] > voice["profile_bytes"]


def test_cancel_and_limits(service_settings, bundled_model, spoken_clips):
    settings = service_settings.model_copy(update={"local_workers": 0})  # jobs stay queued
    with local_client(create_app(settings, model=bundled_model)) as api:
        data, files = voice_form(spoken_clips[:1], transcripts=True)
        voice = api.post("/v1/voices", data=data, files=files).json()
        jobs = [api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": m}).json()
                for m in ("sea-emb", "sea-all")]
        r = api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "patch"})
        assert r.status_code == 429 and "limit is 2" in r.text
        assert "voiceadapt_job_queue_depth 2.0" in api.get("/metrics").text
        cancelled = api.delete(f"/v1/jobs/{jobs[0]['id']}").json()
        assert cancelled["state"] == "cancelled"
        assert api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "patch"}).status_code == 202
        assert api.post(f"/v1/voices/{voice['id']}/adapt",
                        json={"mode": "sea-enc"}).status_code == 422
        api.delete(f"/v1/voices/{voice['id']}")  # deleting a voice cancels its queued jobs
        assert api.get(f"/v1/jobs/{jobs[1]['id']}").json()["state"] == "cancelled"
        assert "voiceadapt_job_queue_depth 0.0" in api.get("/metrics").text


def test_running_job_can_be_cancelled(service_settings, bundled_model, spoken_clips):
    settings = service_settings.model_copy(update={"adapt_steps": 400})
    with local_client(create_app(settings, model=bundled_model)) as api:
        data, files = voice_form(spoken_clips, transcripts=True)
        voice = api.post("/v1/voices", data=data, files=files).json()
        job = api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "sea-emb"}).json()
        deadline = time.monotonic() + 60
        while api.get(f"/v1/jobs/{job['id']}").json()["step"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert api.delete(f"/v1/jobs/{job['id']}").status_code == 200
        done = wait_job(api, job["id"], timeout=60)
        assert done["state"] == "cancelled" and done["step"] < 400
        assert api.get(f"/v1/voices/{voice['id']}").json()["mode"] == "sea-enc"


def test_jobs_survive_a_restart(service_settings, bundled_model, spoken_clips):
    stopped = service_settings.model_copy(update={"local_workers": 0})
    with local_client(create_app(stopped, model=bundled_model)) as api:
        data, files = voice_form(spoken_clips[:2], transcripts=True)
        voice = api.post("/v1/voices", data=data, files=files).json()
        queued = api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "sea-emb"}).json()
        interrupted = api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "patch"}).json()
        with api.app.state.service.db.session() as s:  # as if the process died mid-job
            job = s.get(Job, interrupted["id"])
            job.state, job.attempts, job.step = "running", 1, 2
            dead = Job(id="job_out_of_tries", owner="local", voice_id=voice["id"], mode="sea-emb",
                       state="running", attempts=2)
            s.add(dead)
    app = create_app(service_settings, model=bundled_model)
    with local_client(app) as api:
        first = wait_job(api, queued["id"])
        second = wait_job(api, interrupted["id"])
        assert first["state"] == "succeeded", first
        assert second["state"] == "succeeded" and second["attempts"] == 2, second
        failed = api.get("/v1/jobs/job_out_of_tries").json()
        assert failed["state"] == "failed" and "restart" in failed["error"]
        assert api.get(f"/v1/voices/{voice['id']}").json()["mode"] in ("sea-emb", "patch")


@pytest.mark.synth
def test_short_two_word_clips_make_a_voice_and_adapt(api, tmp_path):
    """People record short phrases: six two-word clips (each under 1 s of speech) make a
    voice, and SEA-EMB fits it; one clip alone is refused naming its share and the total."""
    import subprocess

    require_synthesizers()
    phrases = ["Good morning.", "Thank you.", "See you.", "Hello there.", "Right now.", "Of course."]
    clips = []
    for i, text in enumerate(phrases):
        path = tmp_path / f"short{i}.wav"
        subprocess.run(["flite", "-voice", "awb", "-t", text, "-o", str(path)], check=True)
        clips.append((path.read_bytes(), text))
    data, files = voice_form(clips, transcripts=True)
    r = api.post("/v1/voices", data=data, files=files)
    assert r.status_code == 201, r.text
    voice = r.json()
    job = wait_job(api, api.post(f"/v1/voices/{voice['id']}/adapt", json={"mode": "sea-emb"}).json()["id"])
    assert job["state"] == "succeeded", job
    data, files = voice_form(clips[:1], transcripts=True)
    r = api.post("/v1/voices", data=data, files=files)
    assert r.status_code == 422
    assert "clip0.wav" in r.json()["detail"] and "in all" in r.json()["detail"]
