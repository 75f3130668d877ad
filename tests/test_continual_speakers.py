"""Adding corpus speakers to the backbone one after another (training/continual_speakers.py):
run from a config on the tiny corpus, replay and MER forget the first speaker less than plain
sequential fine-tuning, MOLe keeps it untouched in its own component, and a stopped stream
resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch

from training.config import continual_from_dict

# the bundled (trained) backbone on the tiny corpus's two training speakers: every weight
# moves at the product's rates, so the second speaker's turn costs the first one loss
SETTINGS = {"speakers": 2, "train_clips": 2, "test_clips": 1, "repeats": 4, "adapt": "all",
            "memory": 8, "batch": 2, "threads": 1}


def _run(tiny_corpus, tmp_path, name, **continual):
    from training.continual_speakers import main

    corpus, _, root = tiny_corpus
    settings = SETTINGS | continual
    lines = ["[data]", f'corpus = "{corpus.root}"', f'cache = "{root / "cache"}"', "[continual]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    config = tmp_path / f"{name}.toml"
    config.write_text("\n".join(lines) + "\n")
    run = tmp_path / name
    assert main(["--config", str(config), "--run-dir", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["speaker"] for r in rows] == [1, 2]
    assert len(results["loss_matrix"]) == 3 and all(len(r) == 2 for r in results["loss_matrix"])
    return results


def test_replay_and_mer_forget_the_first_speaker_less_than_plain_fine_tuning(tiny_corpus, tmp_path):
    sgd = _run(tiny_corpus, tmp_path, "sgd", method="sgd")
    er = _run(tiny_corpus, tmp_path, "er", method="er")
    mer = _run(tiny_corpus, tmp_path, "mer", method="mer")
    assert sgd["speakers"] == ["espeak-en-us-s0", "festival-kal-diphone-s0"]
    # forgetting is the first speaker's test loss at the end minus right after its turn
    R = sgd["loss_matrix"]
    assert sgd["forgetting"] == pytest.approx(R[2][0] - R[1][0])
    assert sgd["forgetting"] > 0.05, sgd  # there is something to forget
    assert er["forgetting"] < sgd["forgetting"] - 0.03, (er, sgd)
    assert mer["forgetting"] < sgd["forgetting"] - 0.03, (mer, sgd)
    # all start from the same place and hear the same clips
    assert er["loss_matrix"][0] == sgd["loss_matrix"][0] == mer["loss_matrix"][0]
    assert sgd["arrivals"] == er["arrivals"] == mer["arrivals"] == 16

    # MOLe with one component is plain sequential fine-tuning; spawning readily, it keeps the
    # first speaker's component as its turn left it and finds it again without its label
    one = _run(tiny_corpus, tmp_path, "mole1", method="mole", alpha=1.0)
    assert one["components"] == 1
    for mole_row, sgd_row in zip(one["loss_matrix"], sgd["loss_matrix"], strict=True):
        assert mole_row == pytest.approx(sgd_row, abs=1e-5)
    many = _run(tiny_corpus, tmp_path, "mole100", method="mole", alpha=100.0)
    assert many["components"] > 2
    assert many["forgetting"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("method, alpha", [("mer", 1.0), ("mole", 1.0), ("mole", 100.0)])
def test_a_resumed_stream_learns_what_an_unbroken_one_does(tiny_corpus, tmp_path, method, alpha):
    """MER's reservoir and Adam state, MOLe's components with their own Adam (one reused
    across the break, or several spawned) and every g come back as they were."""
    from training.continual_speakers import SpeakerStream, choose_speakers
    from training.data import load_corpus_items
    from training.meta_speakers import load_start
    from voiceadapt.audio import FeatureParams

    corpus, _, root = tiny_corpus
    items, speakers = load_corpus_items(corpus.root, root / "cache", FeatureParams(), "train")
    cfg = continual_from_dict({"continual": SETTINGS | {"method": method, "alpha": alpha}})

    def stream() -> SpeakerStream:
        model = load_start("")
        return SpeakerStream(cfg, model, choose_speakers(model, items, speakers, 2, 2, 1, 0))

    whole, broken = stream(), stream()
    whole.learn_speaker()
    broken.learn_speaker()
    torch.save(broken.state(), tmp_path / "state.pt")
    resumed = stream()
    resumed.load_state(torch.load(tmp_path / "state.pt", weights_only=False))
    torch.manual_seed(7)  # whatever the global generator holds
    whole.learn_speaker()
    resumed.learn_speaker()
    assert resumed.done == 2 and resumed.arrivals == whole.arrivals
    assert torch.equal(resumed.generator.get_state(), whole.generator.get_state())
    assert resumed.test_losses() == pytest.approx(whole.test_losses(), abs=1e-5)
    if method == "mole":
        assert resumed.mole.assignments == whole.mole.assignments


def test_continual_config_rejects_what_cannot_run():
    with pytest.raises(ValueError, match="continual.method must be one of sgd, er, mer, mole"):
        continual_from_dict({"continual": {"method": "ewc"}})
    with pytest.raises(ValueError, match="continual.adapt"):
        continual_from_dict({"continual": {"adapt": "embedding"}})
    with pytest.raises(ValueError, match="later speaker"):
        continual_from_dict({"continual": {"speakers": 1}})
    with pytest.raises(ValueError, match="unknown setting"):
        continual_from_dict({"continual": {"speaker": 3}})


def test_the_comparison_reads_runs_of_one_stream_and_refuses_others(tmp_path, capsys):
    from training.benchmarks.continual_speakers import main
    from training.continual_speakers import stream_figures

    def run(name, speakers, matrix, seed=0, **extra):
        """A finished run's results.json, its figures computed as a run computes them."""
        folder = tmp_path / name
        folder.mkdir()
        result = {"speakers": speakers, "loss_matrix": matrix, "shared_parameters": 10,
                  "arrivals": 4, "stream": {"seed": seed}, "wall_minutes": 0.1,
                  **stream_figures(matrix, len(speakers)), **extra}
        (folder / "results.json").write_text(json.dumps(result))
        return f"{name}={folder}"

    # a: 3.0 at the start, 2.0 after its turn, 2.6 after b's; b: 4.0, 4.5 after a's turn
    # (forward transfer -0.5), 3.0 after its own (gain 1.5)
    plain = run("plain", ["a", "b"], [[3.0, 4.0], [2.0, 4.5], [2.6, 3.0]])
    mole = run("mole", ["a", "b"], [[3.0, 4.0], [2.0, 4.1], [2.0, 3.1]], components=2)
    assert main(["--run", plain, "--run", mole, "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out.md").read_text()
    # forward transfer (0 + -0.5) / 2, own turn's gain (1.0 + 1.5) / 2, forgetting of a
    assert "| plain | 10 | 4 | 3.500 | 2.800 | -0.250 | 1.250 | +0.600 | +0.600 | - | 0.10 |" in text
    assert "| mole | 10 | 4 | 3.500 | 2.550 | -0.050 | 1.000 | +0.000 | +0.000 | 2 | 0.10 |" in text
    assert "| a | 2.00 -> 2.60 | 2.00 -> 2.00 |" in text
    curves = json.loads((tmp_path / "out.json").read_text())["first_speaker_curves"]
    assert curves == {"plain": [2.0, 2.6], "mole": [2.0, 2.0]}
    assert (tmp_path / "out.png").stat().st_size > 0
    other = run("other", ["a", "c"], [[3.0, 4.0], [2.0, 4.5], [2.6, 3.0]])
    with pytest.raises(SystemExit, match="same stream"):
        main(["--run", plain, "--run", other])
    reseeded = run("reseeded", ["a", "b"], [[3.0, 4.0], [2.0, 4.5], [2.6, 3.0]], seed=1)
    with pytest.raises(SystemExit, match="same stream"):
        main(["--run", plain, "--run", reseeded])
    with pytest.raises(SystemExit, match="no results.json"):
        main(["--run", f"none={tmp_path / 'missing'}"])
