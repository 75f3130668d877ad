"""Backbone training: TOML config, run folder, DDP under torchrun, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.config import from_dict, load_config
from voiceadapt.models.checkpoint import load

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _config(tmp_path: Path, corpus, root: Path, steps: int) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(f"""
[data]
corpus = "{corpus.root}"
cache = "{root / 'cache'}"
[model]
size = "compact"
speaker_channels = 16
[train]
steps = {steps}
batch_size = 4
wavenet_batch_size = 4
wavenet_segment = 2000
lr = 0.003
warmup_steps = 5
checkpoint_every = 10
log_every = 5
""")
    return path


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively (torchrun starts its workers in their own sessions)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_config_rejects_typos_and_wrong_types(tmp_path):
    with pytest.raises(ValueError, match="unknown setting"):
        from_dict({"train": {"step": 3}})
    with pytest.raises(ValueError, match="train.bf16 must be bool"):
        from_dict({"train": {"bf16": "yes"}})
    path = tmp_path / "c.toml"
    path.write_text("[train]\nsteps = 7\nlr = 1\n")
    cfg = load_config(path)
    assert cfg.train.steps == 7 and cfg.train.lr == 1.0


def test_ddp_train_killed_and_resumed(tiny_corpus, tmp_path):
    corpus, _, root = tiny_corpus
    config = _config(tmp_path, corpus, root, steps=40)
    run = tmp_path / "run"
    cmd = [str(TORCHRUN), "--nproc_per_node=2", "-m", "training.train", "--config", str(config),
           "--run-dir", str(run)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, cwd=Path(__file__).parents[1])
    deadline = time.time() + 300
    while not (run / "step_0000020.train.pt").exists():
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "training made no checkpoint in time"
        time.sleep(0.2)
    for pid in _descendants(proc.pid) + [proc.pid]:  # a hard kill of every rank, mid-run
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    (run / "step_0000030.train.pt").write_bytes(b"cut short")  # a corrupt newest file

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "skipping unreadable checkpoint step_0000030.train.pt" in out
    assert "resumed from step 20" in out
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logs[-1]["step"] == 40
    assert logs[-1]["total"] < logs[0]["total"]
    assert (run / "latest").read_text().strip() == "step_0000040"
    assert (run / "git.txt").exists() and list((run / "tb").iterdir())
    model = load(run / "step_0000040.safetensors")
    assert model.extra["step"] == 40 and len(model.speakers) == 2
