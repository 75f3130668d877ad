"""The ``voiceadapt`` command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import speechlike

from voiceadapt.cli import main


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
    for command in ("frontend", "audio-info", "serve", "corpus"):
        assert command in proc.stdout
