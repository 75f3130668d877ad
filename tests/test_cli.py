"""The ``voiceadapt`` command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from helpers import speechlike

from voiceadapt.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_frontend_command_prints_sentences_and_phonemes(capsys):
    assert main(["frontend", "Dr. Smith paid $5.50. Then he left!"]) == 0
    out = capsys.readouterr().out
    assert "[1] doctor Smith paid five dollars fifty cents." in out
    assert "[2] Then he left!" in out
    assert "dˈɑːktɚ" in out


def test_frontend_command_empty_text_is_a_clear_error(capsys):
    assert main(["frontend", "   "]) == 2
    assert "nothing to speak" in capsys.readouterr().err


def test_audio_info_reports_good_and_bad_files(tmp_path, capsys):
    good, bad = tmp_path / "good.wav", tmp_path / "bad.mp3"
    sf.write(str(good), speechlike(2.0, 44_100, f0=180.0), 44_100)
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    assert main(["audio-info", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "good.wav: 2.00 s at 44100 Hz" in out
    assert "bad.mp3: error: bad.mp3 is not audio we can read" in out


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("voiceadapt")  # the pyproject entry point
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    for command in ("frontend", "audio-info", "say", "adapt", "speakers"):
        assert command in proc.stdout
    moved = subprocess.run([str(script), "serve", "--port", "9"], capture_output=True, text=True)
    assert moved.returncode == 2
    assert "`python -m server serve --port 9`" in moved.stderr  # where it went, options kept


def test_serve_refuses_open_binding_without_keys_and_keys_commands(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "VOICEADAPT_DATA_DIR": str(tmp_path / "svc")}
    cli = [sys.executable, "-m", "server"]
    r = subprocess.run([*cli, "serve", "--host", "0.0.0.0"], env=env, capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "no API key is registered" in r.stderr
    key = subprocess.run([*cli, "keys", "create", "ops"], env=env, capture_output=True,
                         text=True, timeout=120, check=True, cwd=ROOT).stdout.strip()
    assert key.startswith("va_") and len(key) > 20
    listed = subprocess.run([*cli, "keys", "list"], env=env, capture_output=True, text=True,
                            timeout=120, check=True, cwd=ROOT).stdout
    key_id, name = listed.split()
    assert name == "ops" and key not in listed
    assert subprocess.run([*cli, "keys", "revoke", key_id], env=env, timeout=120,
                          cwd=ROOT).returncode == 0
    assert subprocess.run([*cli, "keys", "list"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT).stdout == ""
    # key commands are quick: the service's settings and database do not load torch
    probe = "import sys; from server.cli import main; main(['keys', 'list']); print(sorted(" \
            "m for m in sys.modules if m.split('.')[0] in ('torch', 'torchaudio')))"
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                          timeout=120, check=True, cwd=ROOT).stdout == "[]\n"


def test_say_without_a_voice_speaks_as_a_bundled_speaker_and_says_which(tmp_path, capsys):
    import soundfile as sf

    out = tmp_path / "hi.wav"
    assert main(["say", "Hello there.", "-o", str(out), "--vocoder", "griffin-lim"]) == 0
    err = capsys.readouterr().err
    assert "speaking as the bundled speaker" in err
    wav, rate = sf.read(out)
    assert rate == 16000 and len(wav) > rate // 2 and abs(wav).max() > 0.01
    assert main(["say", "Hi.", "-o", str(out), "--speaker", "x", "--voice", "y"]) == 2
    assert "not several" in capsys.readouterr().err
