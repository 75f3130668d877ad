"""The README's curl examples work as written, against a live server."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from service_helpers import LiveServer, decode, is_speech

from server.main import create_app

README = Path(__file__).resolve().parent.parent / "README.md"


def curl_block() -> str:
    text = README.read_text()
    match = re.search(r"<!-- curl-examples.*?-->\s*```sh\n(.*?)```", text, re.S)
    assert match, "README lost its curl-examples block"
    return match.group(1)


def test_readme_curl_examples(service_settings, bundled_model, tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is missing (install it with .ci/run's apt step)")
    script = curl_block()
    assert script.count("localhost:8000") >= 8
    with LiveServer(create_app(service_settings, model=bundled_model)) as server:
        run = subprocess.run(["bash", "-euo", "pipefail", "-c",
                              script.replace("localhost:8000", f"127.0.0.1:{server.port}")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr + run.stdout
    assert "voiceadapt_job_queue_depth" in run.stdout
    for name in ("ref.wav", "hello.mp3", "stream.wav", "once.wav", "openai.mp3"):
        if name != "stream.wav":
            assert is_speech(*decode((tmp_path / name).read_bytes())), name
    assert (tmp_path / "stream.wav").read_bytes()[:4] == b"RIFF"
    assert (tmp_path / "stream.wav").stat().st_size > 16000
