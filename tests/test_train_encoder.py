"""The episodic speaker-encoder trainer: it learns, resumes, and reports verification."""

from __future__ import annotations

import json

import pytest

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


def test_cactus_pseudo_speakers_recover_separable_speakers():
    """CACTUs' k-means partitions of the encoder's embeddings, labels unused, recover three
    speakers whose clips differ clearly (purity 1.0 against speakers and persons)."""
    import numpy as np

    from training.train_encoder import Speakers, cactus_speakers
    from voiceadapt.inference import load
    from voiceadapt.models.encoder import EncoderConfig, SpeakerEncoder

    rng = np.random.default_rng(0)
    frames = np.arange(120)
    shapes = {"low": np.full((80, 120), -1.5),
              "high": np.full((80, 120), 1.5),
              "striped": np.sin(frames / 3.0)[None].repeat(80, 0) * 2}
    data = Speakers(mels={s: [(m + 0.05 * rng.standard_normal(m.shape)).astype(np.float16)
                              for _ in range(5)] for s, m in shapes.items()},
                    person={"low": "x", "high": "y", "striped": "z"})
    base = load()
    encoder = SpeakerEncoder(EncoderConfig(**base.cfg.encoder.to_dict()))
    encoder.load_state_dict(base.encoder.state_dict())
    parts, found = cactus_speakers(encoder, data, clusters=3, count=2, seed=0)
    assert len(parts) == 2
    assert found == {"cactus_purity_speakers": 1.0, "cactus_purity_persons": 1.0}
    for part in parts:  # pseudo-speakers only: no true name, each cluster its own person
        assert not set(part.mels) & set(shapes)
        assert all(part.person[c] == c for c in part.mels)


def test_cactus_episodes_train_without_labels(v2_tiny_corpus, tmp_path):
    """Run from a config through the training entry point, as configs/encoder_cactus.toml is."""
    from training.cli import main as training_main

    corpus, _, _ = v2_tiny_corpus
    config = tmp_path / "cactus.toml"
    config.write_text(f'[encoder]\ncorpus = "{corpus.root}"\nspeakers = 2\nclips = 2\nframes = 60\n'
                      'every = 4\nlr = 3e-3\nlabels = "cactus"\nclusters = 3\npartitions = 2\n'
                      'steps = 8\n')
    args = ["encoder", "--config", str(config), "--run-dir", str(tmp_path / "run")]
    assert training_main(args) == 0
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert [e["step"] for e in log] == [0, 4, 8]
    assert 0.0 < log[0]["cactus_purity_speakers"] <= 1.0
    config.write_text(config.read_text().replace("steps = 8", "steps = 12"))
    assert training_main(args) == 0  # resumes, clustering again from the start encoder
    assert [e["step"] for e in json.loads((tmp_path / "run" / "log.json").read_text())] == [0, 4, 8, 12]


def test_encoder_config_sets_the_options_and_flags_win(tmp_path, capsys):
    from training.train_encoder import parse_arguments

    args = parse_arguments(["--config", "configs/encoder_cactus.toml", "--run-dir", "r",
                            "--steps", "5"])
    assert (args.corpus, args.labels, args.clusters, args.steps) == ("data/corpus_v2", "cactus", 500, 5)
    bad = tmp_path / "bad.toml"
    for text, message in (('[encoder]\nstpes = 3\ncorpus = "c"\n', "unknown setting(s) encoder.stpes"),
                          ('[encoder]\nsteps = "many"\ncorpus = "c"\n', "encoder.steps must be int"),
                          ('[encoder]\nlabels = "names"\ncorpus = "c"\n', "encoder.labels must be one of"),
                          ("[encoder]\nsteps = 3\n", "the training corpus is needed")):
        bad.write_text(text)
        with pytest.raises(SystemExit):
            parse_arguments(["--config", str(bad), "--run-dir", "r"])
        assert message in capsys.readouterr().err
