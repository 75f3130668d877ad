"""The universal vocoder (a WaveNet on mel frames alone, in a file of its own) and the GPU
relay that trains it, run here on the CPU for a few steps (issue 14)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.config import from_dict
from training.vocoder import Vocoder, extract, install, load_vocoder, renormalize, save_vocoder, speaker_free
from voiceadapt.audio import FeatureParams
from voiceadapt.models.backbone import Backbone, BackboneConfig, NormStats
from voiceadapt.models.checkpoint import load, save
from voiceadapt.text import SymbolTable

ROOT = Path(__file__).resolve().parents[1]


def _backbone(seed: int = 0, stats: NormStats | None = None, speakers: int = 3) -> Backbone:
    torch.manual_seed(seed)
    params = FeatureParams()
    table = SymbolTable()
    cfg = BackboneConfig.compact(len(table), params.n_mels, params.hop_length, 16)
    stats = stats or NormStats(mel_mean=(-4.0,) * params.n_mels, mel_std=(2.0,) * params.n_mels)
    model = Backbone(cfg, [f"spk{i}" for i in range(speakers)], table, params, stats)
    with torch.no_grad():  # biases away from zero, so a lost term shows
        for p in model.wavenet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_speaker_free_wavenet_is_the_mean_voice():
    model = _backbone()
    net, g = model.wavenet, model.speaker_table.weight.detach()
    free = speaker_free(net, g)
    assert free.cfg.speaker_channels == 0 and not any(".spk." in k for k in free.state_dict())
    audio = torch.randint(0, 256, (2, 1000))
    frames = torch.randn(2, 80, 5)
    with torch.no_grad():
        want = net(audio, frames, g.mean(0, keepdim=True).expand(2, -1))
        got = free(audio, frames)
        other = net(audio, frames, g[:1].expand(2, -1))
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, other, atol=1e-3)  # the speaker bias mattered


def test_renormalized_wavenet_reads_another_models_mel_units():
    n = 80
    old = NormStats(mel_mean=tuple(torch.linspace(-6, -2, n).tolist()),
                    mel_std=tuple(torch.linspace(1.5, 2.5, n).tolist()))
    new = NormStats(mel_mean=tuple(torch.linspace(-5, -3, n).tolist()),
                    mel_std=tuple(torch.linspace(2.5, 1.0, n).tolist()))
    net = speaker_free(_backbone().wavenet, torch.zeros(1, 16))
    moved = speaker_free(net, torch.zeros(1, 16))
    renormalize(moved, old, new)
    mel = torch.randn(1, n, 10) - 4.0
    audio = torch.randint(0, 256, (1, 2000))
    with torch.no_grad():
        want = net(audio, old.normalize_mel(mel))
        got = moved(audio, new.normalize_mel(mel))
        unconverted = net(audio, new.normalize_mel(mel))
    inner = slice(3 * 200, 8 * 200)  # the zero-padded edge frames differ, by design
    assert torch.allclose(got[..., inner], want[..., inner], atol=1e-4)
    assert not torch.allclose(unconverted[..., inner], want[..., inner], atol=1e-2)


def test_vocoder_file_round_trip_and_install(tmp_path):
    source = _backbone(seed=1)
    path = save_vocoder(extract(source, {"updates": 7}), tmp_path / "v.safetensors")
    vocoder = load_vocoder(path)
    assert vocoder.extra == {"updates": 7} and vocoder.stats == source.stats
    other_stats = NormStats(mel_mean=(-5.0,) * 80, mel_std=(1.5,) * 80)
    target = _backbone(seed=2, stats=other_stats, speakers=5)
    spoken = install(target, vocoder)
    assert spoken.cfg.wavenet.speaker_channels == 0 and spoken.speakers == target.speakers
    for k, v in target.state_dict().items():
        if not k.startswith("wavenet."):
            assert torch.equal(spoken.state_dict()[k], v), k
    back = load(save(spoken, tmp_path / "m.safetensors"))  # a self-describing checkpoint
    mel = torch.randn(1, 80, 6)
    from voiceadapt.models.vocoders import vocode

    def wav(m: Backbone) -> torch.Tensor:
        return vocode(m, mel, m.speaker_embedding(m.speakers[0])[None], "wavenet",
                      generator=torch.Generator().manual_seed(3), folds=1)

    assert wav(back).shape == (1, 6 * 200) and torch.equal(wav(back), wav(spoken))
    with pytest.raises(ValueError, match="not a voiceadapt vocoder"):
        load_vocoder(tmp_path / "m.safetensors")


def _relay_config(path: Path, pack: Path, init: Path, vocoder: Path,
                  model: dict[str, object] | None = None, **train: object) -> Path:
    settings = {"steps": 3, "batch_size": 2, "wavenet_batch_size": 2, "wavenet_segment": 2000,
                "wavenet_extra_steps": 1, "lr": 0.003, "warmup_steps": 1, "checkpoint_every": 3,
                "log_every": 1, "keep_checkpoints": 1, **train}
    lines = [f'[data]\npack = "{pack}"', "[model]", 'size = "compact"', "speaker_channels = 16",
             f'init = "{init}"', "universal_vocoder = true", f'vocoder_init = "{vocoder}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in (model or {}).items()]
    lines += ["[train]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def relay_inputs(tiny_corpus, tmp_path_factory):
    """A packed tiny corpus, a compact model (fresh weights) for its speakers, and a vocoder
    file extracted from it (a ledger of 100 earlier updates)."""
    from training.data import load_corpus_items
    from training.pack import main as pack
    from training.train import Trainer

    corpus, _, root = tiny_corpus
    out = tmp_path_factory.mktemp("relay")
    pack(["--corpus", str(corpus.root), "--cache", str(root / "cache"), "--out", str(out),
          "--held-out", "0"])
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    model = Trainer(from_dict({"model": {"size": "compact", "speaker_channels": 16}}), out / "run",
                    items, speakers, params).model
    init = save(model, out / "init.safetensors")
    vocoder = save_vocoder(extract(model, {"updates": 100, "samples": 10**6, "gpu_minutes": 1.5}),
                           out / "vocoder.safetensors")
    return out, init, vocoder, items


def test_vocoder_only_run_trains_the_wavenet_alone(relay_inputs, tmp_path):
    """train.acoustic = false: the WaveNet learns (its loss falls) on a corpus of other
    speakers than the model's, nothing else moves, and the vocoder's ledger adds up."""
    from training.data import BatchSampler
    from training.step import TrainStep
    from training.train import Trainer

    pack, init, vocoder, items = relay_inputs
    start = load(init)
    stranger = dataclasses.replace(items[0], speaker=0)
    assert len(start.speakers) >= 2  # the run's corpus below has one "speaker" the model lacks
    config = _relay_config(tmp_path / "v.toml", pack / "train.npz", init, vocoder, steps=60, lr=0.01,
                           acoustic=False, wavenet_extra_steps=0, checkpoint_every=60)
    from training.config import load_config

    cfg = load_config(config)
    trainer = Trainer(cfg, tmp_path / "run", [stranger, *items[1:]], ["someone-else"], FeatureParams())
    batch = BatchSampler(items, FeatureParams(), seed=5).wavenet(4, 2000)
    step = TrainStep(trainer.model)
    with torch.no_grad():
        before = float(step.wavenet_loss(batch))
    trainer.fit()
    with torch.no_grad():
        after = float(step.wavenet_loss(batch))
    assert after < before - 0.2, (before, after)
    for k, v in start.state_dict().items():
        if not k.startswith("wavenet."):
            assert torch.equal(trainer.model.state_dict()[k], v), k
    ledger = load_vocoder(tmp_path / "run" / "step_0000060.vocoder.safetensors").extra
    assert ledger["updates"] == 160 and ledger["samples"] == 10**6 + 60 * 2 * 2000
    assert ledger["cpu_minutes"] > 0 and ledger["gpu_minutes"] == 1.5


def test_relay_script_on_cpu_and_landing(relay_inputs, tmp_path, monkeypatch):
    """training/device_train.sh for a few steps on the CPU, then `training.relay land`:
    the vocoder file, its sha256, the ledger row and the next relay's init."""
    from training.config import load_config
    from training.relay import land
    from voiceadapt.files import sha256_file

    pack, init, vocoder, _ = relay_inputs
    relay = load_config(ROOT / "configs/relay.toml")  # its losses and languages run here too
    joint = relay.train
    config = _relay_config(tmp_path / "relay.toml", pack / "train.npz", init, vocoder,
                           {"language_embedding": relay.model.language_embedding},
                           speaker_consistency=joint.speaker_consistency,
                           speaker_adversary=joint.speaker_adversary)
    out = tmp_path / "out"
    env = {**os.environ, "CONFIG": str(config), "OUT": str(out), "RUN": str(tmp_path / "run"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "training/device_train.sh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"backbone.safetensors", "vocoder.safetensors", "metrics.jsonl", "train.log"} <= \
        {p.name for p in out.iterdir()}
    logged = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert ("scl" in logged) == (joint.speaker_consistency > 0)
    assert ("adv" in logged) == (joint.speaker_adversary > 0)
    committed, carried = tmp_path / "committed", tmp_path / "carried"
    committed.mkdir()
    (committed / "ledger.jsonl").write_text(json.dumps(
        {"relay": 1, "updates": 40, "cumulative_updates": 100, "gpu_minutes": 1.5}) + "\n")
    row = land(out, committed, carried, tmp_path / "no-heldout.npz")
    assert row["relay"] == 2 and row["updates"] == 3 * 2 and row["cumulative_updates"] == 106
    assert row["minutes"] == 0.0  # a CPU run adds no GPU minutes
    assert "wavenet" in dict(row["loss_at_end"])
    digest = (committed / "vocoder.sha256").read_text().split()[0]
    assert digest == sha256_file(committed / "vocoder.safetensors")
    landed = load(carried / "init.safetensors")
    assert landed.cfg.wavenet.speaker_channels == 0
    assert bool(landed.languages) == relay.model.language_embedding  # grown on the way
    with pytest.raises(FileNotFoundError, match="left no backbone.safetensors"):
        land(committed, committed, carried, tmp_path / "no-heldout.npz")  # no relay output
    with pytest.raises(ValueError, match="has landed"):
        land(out, committed, carried, tmp_path / "no-heldout.npz")

    # a vocoder-only relay lands its vocoder but leaves the acoustic init alone; with
    # held-out utterances beside the init, a joint relay's backbone replaces it only if
    # their mel loss did not get worse
    from training.pack import read_pack, write_pack

    init_sha = sha256_file(carried / "init.safetensors")
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("backbone.safetensors", "metrics.jsonl"):
        (alone / name).write_bytes((out / name).read_bytes())
    joint_lines = (out / "config.toml").read_text().replace(
        "[train]", "[train]\nacoustic = false\nwavenet_extra_steps = 0", 1).splitlines()
    (alone / "config.toml").write_text("\n".join(  # a vocoder run has no acoustic losses
        line for line in joint_lines
        if not line.startswith(("wavenet_extra_steps = 1", "speaker_"))) + "\n")
    moved = load_vocoder(out / "vocoder.safetensors")
    save_vocoder(Vocoder(moved.net, moved.features, moved.stats, {**moved.extra, "updates": 110}),
                 alone / "vocoder.safetensors")
    row = land(alone, committed, carried, tmp_path / "no-heldout.npz")
    assert row["next_init"] == "kept" and sha256_file(carried / "init.safetensors") == init_sha
    items, speakers = read_pack(pack / "train.npz", FeatureParams())
    heldout = write_pack(items[:2], speakers, tmp_path / "heldout.npz", FeatureParams())
    save_vocoder(Vocoder(moved.net, moved.features, moved.stats, {**moved.extra, "updates": 120}),
                 out / "vocoder.safetensors")
    row = land(out, committed, carried, heldout)
    mel = row["heldout_mel"]
    assert set(mel) == {"table", "encoder"}
    better = all(m["after"] <= m["before"] for m in mel.values())
    assert row["next_init"] == ("this relay's backbone" if better else "kept")

    # the gate itself: better with the table's embeddings but worse with SEA-ENC's is kept out
    import training.relay as relay_module

    init_sha = sha256_file(carried / "init.safetensors")
    scores = {str(carried / "init.safetensors"): {"table": 0.40, "encoder": 0.40},
              str(out / "backbone.safetensors"): {"table": 0.30, "encoder": 0.41}}
    monkeypatch.setattr(relay_module, "heldout_mels",
                        lambda models, _: [scores[str(m)] for m in models])
    save_vocoder(Vocoder(moved.net, moved.features, moved.stats, {**moved.extra, "updates": 130}),
                 out / "vocoder.safetensors")
    row = land(out, committed, carried, heldout)
    assert row["next_init"] == "kept" and sha256_file(carried / "init.safetensors") == init_sha
    scores[str(out / "backbone.safetensors")]["encoder"] = 0.39
    save_vocoder(Vocoder(moved.net, moved.features, moved.stats, {**moved.extra, "updates": 140}),
                 out / "vocoder.safetensors")
    assert land(out, committed, carried, heldout)["next_init"] == "this relay's backbone"


def test_relay_configs_are_valid_and_consistent():
    from training.config import load_config

    joint, alone = load_config(ROOT / "configs/relay.toml"), load_config(ROOT / "configs/relay_vocoder.toml")
    for cfg in (joint, alone):
        assert cfg.model.universal_vocoder and cfg.model.vocoder_init == \
            "training/relay_weights/vocoder.safetensors"
        assert cfg.train.max_minutes <= 9
    assert joint.train.acoustic and not alone.train.acoustic
    committed = load_vocoder(ROOT / "training/relay_weights/vocoder.safetensors")
    assert committed.net.cfg.speaker_channels == 0
    sha = (ROOT / "training/relay_weights/vocoder.sha256").read_text().split()[0]
    from voiceadapt.files import sha256_file

    assert sha == sha256_file(ROOT / "training/relay_weights/vocoder.safetensors")
    with pytest.raises(ValueError, match="needs train.wavenet = true and model.init"):
        from_dict({"train": {"acoustic": False}})
    with pytest.raises(ValueError, match="needs model.universal_vocoder"):
        from_dict({"model": {"vocoder_init": "x"}})


def test_teacher_forced_mels_stand_in_step_with_the_recording(tiny_corpus):
    """The bundled acoustic model re-making a recording with its own alignment: its frames
    match the recording's frame for frame (closer than the same mels shifted by 60 ms), and
    the WaveNet segments cut from them pair each frame with its own samples."""
    import numpy as np

    from training.data import BatchSampler, load_corpus_items
    from training.step import TrainStep
    from voiceadapt.audio import log_mel
    from voiceadapt.models.checkpoint import load as load_model

    corpus, _, root = tiny_corpus
    model = load_model(ROOT / "voiceadapt/assets/default.safetensors")
    params = model.features
    items, _ = load_corpus_items(corpus.root, root / "cache", params, "train")
    a = BatchSampler(items, params, seed=1).acoustic(4)
    w = TrainStep(model).teacher_forced_batch(a, 4000, np.random.default_rng(0))
    assert w.audio.shape == (4, 4000) and w.frames is not None and w.frames.shape == (4, 80, 20)
    real = model.stats.normalize_mel(log_mel(w.audio, params))[..., :20]
    aligned = (w.frames - real).abs().mean()
    shifted = (w.frames[..., 3:] - real[..., :-3]).abs().mean()
    assert aligned < 0.8 * shifted, (float(aligned), float(shifted))


def test_vocoder_run_on_teacher_forced_mels(relay_inputs, tmp_path):
    from training.config import load_config
    from training.train import Trainer

    pack, init, vocoder, items = relay_inputs
    config = _relay_config(tmp_path / "tf.toml", pack / "train.npz", init, vocoder, steps=4,
                           acoustic=False, wavenet_extra_steps=0, teacher_forced_share=1.0,
                           checkpoint_every=4)
    trainer = Trainer(load_config(config), tmp_path / "run", items, ["a", "b"], FeatureParams())
    heard = []
    wavenet_loss = trainer.step_core.wavenet_loss
    trainer.step_core.wavenet_loss = lambda w: heard.append(w.frames) or wavenet_loss(w)
    trainer.fit()
    assert len(heard) == 4 and all(f is not None and f.shape == (2, 80, 10) for f in heard)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(0 < r["wavenet"] < 6 for r in rows)
    with pytest.raises(ValueError, match="teacher_forced_share"):
        from_dict({"train": {"teacher_forced_share": 1.5}})


def test_each_relay_packs_the_next_utterances_of_every_speaker():
    """The pack is a speaker-balanced window that moves on with each relay landed, so the
    relays together hear many utterances per speaker, not the same two over and over."""
    import numpy as np

    from training.data import Item
    from training.pack import balanced_subset, estimated_bytes

    items = [Item(s, np.arange(20), np.zeros(16000, np.int16), np.zeros(81, np.float32), f"{s}_{u}")
             for s in range(5) for u in range(10)]
    budget = estimated_bytes(items) * 0.21  # room for 2 of each speaker's 10, not 3 of any
    seen = []
    for relay in range(5):
        subset = balanced_subset(items, budget, rotation=relay)
        assert estimated_bytes(subset) <= budget
        per_speaker = {s: sum(it.speaker == s for it in subset) for s in range(5)}
        assert set(per_speaker.values()) == {2}  # balanced
        seen.append({it.utt_id for it in subset})
    assert all(not seen[i] & seen[j] for i in range(5) for j in range(i))  # no repeats
    assert set().union(*seen) == {it.utt_id for it in items}  # five relays heard them all
    assert balanced_subset(items, budget, rotation=5) == balanced_subset(items, budget)  # wraps


def test_the_pack_fills_its_budget_with_one_more_utterance_of_some_speakers():
    """When k per speaker fits and k + 1 does not, the rest of the budget goes to a (k + 1)-th
    utterance of as many speakers as fit, a different set each relay: corpus v2's 1,028
    speakers at 2 each did not fit on 2026-11-27 and the whole pack fell to 1 each."""
    import numpy as np

    from training.data import Item
    from training.pack import balanced_subset, estimated_bytes, speaker_window

    items = [Item(s, np.arange(20), np.zeros(16000, np.int16), np.zeros(81, np.float32), f"{s}_{u}")
             for s in range(9) for u in range(10)]
    one = estimated_bytes(items[:1])
    budget = one * (9 * 2 + 4.5)  # 2 each, and room for 4 more
    extras = []
    for relay in range(4):
        subset = balanced_subset(items, budget, rotation=relay)
        assert estimated_bytes(subset) <= budget
        counts = [sum(it.speaker == s for it in subset) for s in range(9)]
        assert sorted(counts) == [2] * 5 + [3] * 4, counts
        extras.append({s for s in range(9) if counts[s] == 3})
        for s in extras[-1]:  # one more extends the speaker's window: it keeps its 2
            own = [it for it in items if it.speaker == s]
            assert {it.utt_id for it in speaker_window(own, 2, relay)} < \
                {it.utt_id for it in subset if it.speaker == s}
    assert len(set(map(frozenset, extras))) == 4  # the extra utterances move on


def test_the_vocoder_learns_from_clean_recordings_only(tmp_path):
    """Corpus v2 puts most utterances through codecs and room noise: a relay's pack with room
    for two utterances a speaker keeps a clean and a degraded one of each (an extra third is
    clean), the pack records which is which, and WaveNet segments come from the clean ones."""
    import numpy as np

    from training.data import BatchSampler, Item
    from training.pack import balanced_subset, estimated_bytes, read_pack, write_pack

    def utt(s: int, u: int, clean: bool) -> Item:  # clean audio positive, degraded negative
        level = 1000 if clean else -1000
        return Item(s, np.arange(20), np.full(16000, level, np.int16), np.zeros(81, np.float32),
                    f"{s}_{u}", clean=clean)

    items = [utt(s, u, clean=u % 4 == 0) for s in range(3) for u in range(12)]  # 3 clean each
    for relay in range(10):  # however far the rotation has gone
        subset = balanced_subset(items, estimated_bytes(items) * 0.2, rotation=relay)
        for s in range(3):
            kinds = sorted(it.clean for it in subset if it.speaker == s)
            assert kinds in ([False, True], [False, True, True]), relay  # the extra: clean
    params = FeatureParams()
    back, _ = read_pack(write_pack(subset, ["a", "b", "c"], tmp_path / "p.npz", params), params)
    assert [it.clean for it in back] == [it.clean for it in subset]
    for seed in range(5):  # (the items themselves: Opus in the pack would blur the levels)
        batch = BatchSampler(subset, params, seed=seed).wavenet(8, 8000)
        assert batch.audio.min() >= 0  # no degraded sample in any WaveNet segment
    mixed = BatchSampler(subset, params, seed=0, wavenet_clean_only=False).wavenet(32, 8000)
    assert mixed.audio.min() < 0  # the switch is what keeps them out


def test_temperature_sweep_scores_copy_synthesis_against_the_recording(relay_inputs, tmp_path):
    """training.benchmarks.vocoder_temperature: a recording compared with itself is 0 apart;
    the sweep scores Griffin-Lim and each temperature on held-out clean utterances and names
    the one with the lowest mel L1."""
    from training.benchmarks.vocoder_temperature import main, mel_distance
    from training.pack import read_pack, write_pack
    from voiceadapt.audio import log_mel, pcm16_to_float
    from voiceadapt.inference.synthesize import load as load_bundled

    pack, _, vocoder, items = relay_inputs
    model = load_bundled()
    wav = pcm16_to_float(items[0].audio)
    mel = model.stats.normalize_mel(log_mel(torch.as_tensor(wav), model.features))
    assert mel_distance(model, wav, mel) == (0.0, 0.0)
    assert mel_distance(model, wav * 0.1, mel)[0] > 0.1
    noisy = [dataclasses.replace(items[0], clean=False, utt_id="through-a-channel"), *items[:2]]
    speakers = read_pack(pack / "train.npz", FeatureParams())[1]
    heldout = write_pack(noisy, speakers, tmp_path / "heldout.npz", FeatureParams())
    assert main(["--vocoder-file", str(vocoder), "--heldout", str(heldout), "--utterances", "1",
                 "--temperatures", "1.0", "0.5", "--out", str(tmp_path / "t")]) == 0
    result = json.loads((tmp_path / "t.json").read_text())
    assert result["utterances"] == [items[0].utt_id]  # the clean ones only
    assert [r["system"] for r in result["rows"]] == ["griffin-lim", "wavenet T=1", "wavenet T=0.5"]
    assert all(r["utterances"] == 1 and 0 < r["mel_l1"] < 10 for r in result["rows"])
    wavenet = {r["temperature"]: r["mel_l1"] for r in result["rows"][1:]}
    assert result["chosen_temperature"] == min(wavenet, key=wavenet.get)
