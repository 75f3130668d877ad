"""The episodic speaker-encoder trainer: it learns, resumes, and reports verification."""

from __future__ import annotations

import json

from training.train_encoder import main


def test_encoder_episodes_learn_and_resume(v2_tiny_corpus, tmp_path):
    corpus, _, _ = v2_tiny_corpus
    args = ["--corpus", str(corpus.root), "--eval", str(corpus.root),
            "--run-dir", str(tmp_path / "run"), "--speakers", "3", "--clips", "2", "--frames", "60",
            "--every", "4", "--lr", "3e-3"]
    assert main(args + ["--steps", "8"]) == 0
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert [e["step"] for e in log] == [0, 4, 8]
    assert all(0.0 <= e["eer"] <= 1.0 for e in log)
    assert main(args + ["--steps", "12"]) == 0  # resumes at 8, not from scratch
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert [e["step"] for e in log] == [0, 4, 8, 12]
    assert log[-1]["loss"] < log[1]["loss"]
    assert (tmp_path / "run" / "encoder.safetensors").stat().st_size > 10_000


def test_held_out_persons_never_train_the_encoder():
    import numpy as np
    import pytest

    from training.train_encoder import Speakers, refuse_held_out

    ok = Speakers(mels={"a": [np.zeros((80, 50), np.float16)]}, person={"a": "kal"})
    refuse_held_out(ok, "v2")
    leak = Speakers(mels={"b": [np.zeros((80, 50), np.float16)]}, person={"b": "rms"})
    with pytest.raises(SystemExit, match="held-out persons \\(rms\\)"):
        refuse_held_out(leak, "default")
