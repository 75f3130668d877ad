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
wavenet_extra_steps = 1
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
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "training.train",
           "--config", str(config), "--run-dir", str(run)]
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


def test_pack_round_trip_and_held_out_split(tiny_corpus, tmp_path):
    import numpy as np

    from training.data import load_corpus_items
    from training.pack import held_out_split, read_pack, write_pack
    from voiceadapt.audio import FeatureParams

    corpus, _, root = tiny_corpus
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    train, held = held_out_split(corpus.root, items, 2, max_samples=10**9)
    assert len(held) == 2 and len({it.speaker for it in held}) == 2
    texts = {u.id: u.normalized for u in corpus.utterances}
    train_texts = {texts[it.utt_id] for it in train}
    assert not {texts[it.utt_id] for it in held} & train_texts
    path = write_pack(train, speakers, tmp_path / "train.npz", params)
    back, back_speakers = read_pack(path, params)
    assert back_speakers == speakers and [b.utt_id for b in back] == [t.utt_id for t in train]
    for a, b in zip(train, back, strict=True):
        assert np.array_equal(a.ids, b.ids) and len(a.audio) == len(b.audio)
        assert np.allclose(a.f0, b.f0, rtol=1e-2, atol=0.5)
        x, y = a.audio / 32768.0, b.audio / 32768.0  # Opus-coded: close, not equal
        assert np.corrcoef(x, y)[0, 1] > 0.9


def test_pack_over_budget_keeps_the_speakers_balanced(tiny_corpus, tmp_path):
    """Every speaker keeps k utterances, some k + 1 where the budget has room: within one."""
    from training.pack import estimated_bytes, main, read_pack
    from voiceadapt.audio import FeatureParams

    corpus, _, root = tiny_corpus
    full = tmp_path / "full"
    main(["--corpus", str(corpus.root), "--cache", str(root / "cache"), "--out", str(full),
          "--held-out", "0"])
    items, speakers = read_pack(full / "train.npz", FeatureParams())
    per_speaker = len(items) // len(speakers)
    assert per_speaker >= 2  # room to cut
    budget = (estimated_bytes(items) * (per_speaker - 1) / per_speaker) / 2**20
    small = tmp_path / "small"
    main(["--corpus", str(corpus.root), "--cache", str(root / "cache"), "--out", str(small),
          "--held-out", "0", "--max-mib", str(budget)])
    kept, _ = read_pack(small / "train.npz", FeatureParams())
    counts = [sum(1 for it in kept if it.speaker == s) for s in range(len(speakers))]
    assert (small / "train.npz").stat().st_size <= budget * 2**20
    assert max(counts) - min(counts) <= 1 and 1 <= min(counts) < per_speaker
    assert len(kept) < len(items)


def test_init_from_a_checkpoint_starts_from_its_weights(tiny_corpus, tmp_path):
    import torch

    from training.data import load_corpus_items
    from training.train import Trainer
    from voiceadapt.audio import FeatureParams
    from voiceadapt.models.checkpoint import save

    corpus, _, root = tiny_corpus
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    model = {"size": "compact", "speaker_channels": 16}
    first = Trainer(from_dict({"model": model}), tmp_path / "a", items, speakers, params)
    path = save(first.model, tmp_path / "init.safetensors")
    second = Trainer(from_dict({"model": model | {"init": str(path)}}), tmp_path / "b", items,
                     speakers, params)
    for (k, v), (_, w) in zip(first.model.state_dict().items(),
                              second.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    assert second.model.stats == first.model.stats
    with pytest.raises(ValueError, match="other speakers"):
        Trainer(from_dict({"model": model | {"init": str(path)}}), tmp_path / "c", items,
                speakers[::-1], params)
    with pytest.raises(ValueError, match="not a model of size"):
        Trainer(from_dict({"model": model | {"init": str(path), "speaker_channels": 8}}),
                tmp_path / "d", items, speakers, params)


def test_checkpoints_keep_the_inits_vocoder_only_while_the_wavenet_is_untouched(tiny_corpus,
                                                                                  tmp_path):
    """A run that freezes the WaveNet still speaks best through what its init recommended (the
    adaptation benchmark refuses a checkpoint that names no vocoder); a run that trains the
    WaveNet cannot know, so its checkpoints name none."""
    from training.data import load_corpus_items
    from training.train import Trainer
    from voiceadapt.audio import FeatureParams
    from voiceadapt.models.checkpoint import load, save

    corpus, _, root = tiny_corpus
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    model = {"size": "compact", "speaker_channels": 16}
    first = Trainer(from_dict({"model": model}), tmp_path / "a", items, speakers, params)
    path = save(first.model, tmp_path / "init.safetensors", extra={"vocoder": "griffin-lim"})
    train = {"steps": 1, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 1,
             "wavenet_batch_size": 2, "wavenet_segment": 800}
    for name, start, wavenet, named in [("frozen", "init", False, "griffin-lim"),
                                        ("warm", "warm_start", False, "griffin-lim"),
                                        ("trained", "init", True, None),
                                        ("other", "warm_start", False, None)]:
        run = tmp_path / name
        size = {"size": "default"} if name == "other" else {}  # another WaveNet: not copied whole
        trainer = Trainer(from_dict({"model": model | size | {start: str(path)},
                                     "train": train | {"wavenet": wavenet}}),
                          run, items, speakers, params)
        trainer.fit()
        assert load(run / "step_0000001.safetensors").recommended_vocoder == named, name


def test_symbol_table_of_a_new_model_comes_from_the_run_config(v2_tiny_corpus, tmp_path):
    """Corpus v2 speaks Czech: an en-ipa-1 model cannot hold its phonemes (a clear error);
    model.symbols = "ipa-2" makes a model that can."""
    from training.config import from_dict
    from training.data import load_corpus_items
    from training.train import Trainer
    from voiceadapt.audio import FeatureParams

    corpus, _, root = v2_tiny_corpus
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    model = {"size": "compact", "speaker_channels": 16}
    with pytest.raises(ValueError, match='model.symbols = "ipa-2"'):
        Trainer(from_dict({"model": model}), tmp_path / "a", items, speakers, params)
    trainer = Trainer(from_dict({"model": model | {"symbols": "ipa-2"}}), tmp_path / "b", items,
                      speakers, params)
    assert trainer.model.symbols.version == "ipa-2"


def test_sigterm_saves_before_stopping(tiny_corpus, tmp_path):
    """A relay stopped by `timeout` (SIGTERM) keeps the steps it made: the trainer saves
    at once, between checkpoints."""
    corpus, _, root = tiny_corpus
    config = _config(tmp_path, corpus, root, steps=100000)
    text = config.read_text().replace("checkpoint_every = 10", "checkpoint_every = 100000")
    config.write_text(text)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "training.train", "--config", str(config),
                             "--run-dir", str(run)], cwd=Path(__file__).resolve().parents[1],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) != 0
    latest = (run / "latest").read_text().strip()
    step = int(latest.removeprefix("step_"))
    assert step >= 10 and load(run / f"{latest}.safetensors").extra["step"] == step
