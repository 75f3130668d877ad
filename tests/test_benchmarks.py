"""Benchmark arithmetic that must be right for the figures to mean anything."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.benchmarks.adaptation import equal_error_rate, take_seconds
from training.corpus.manifest import Utterance


def test_equal_error_rate_known_cases():
    targets = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    assert equal_error_rate(np.array([9, 8, 7, 3, 2, 1, 0, -1.0]), targets) == 0.0
    assert equal_error_rate(np.array([-9, -8, -7, 3, 2, 1, 0, -1.0]), targets) == 1.0
    # one target below one impostor: 1/3 misses vs 1/5 false alarms around the crossing
    eer = equal_error_rate(np.array([9, 8, 0.5, 3, 0.2, 0.1, 0, -1.0]), targets)
    assert 0.2 <= eer <= 1 / 3
    rng = np.random.default_rng(0)
    noise = equal_error_rate(rng.standard_normal(4000), rng.random(4000) < 0.3)
    assert noise == pytest.approx(0.5, abs=0.05)


def test_take_seconds_takes_whole_clips_until_enough():
    pool = [Utterance(f"u{i}", "s", "t", "t", "", "", 3.0, "dev") for i in range(5)]
    assert [u.id for u in take_seconds(pool, 5.0)] == ["u0", "u1"]
    assert len(take_seconds(pool, 60.0)) == 5  # all there is


def test_pre_emphasis_round_trip_and_noise_shaping():
    """De-emphasis inverts pre-emphasis, and quantizing the pre-emphasized signal moves mu-law
    noise out of the 4-8 kHz band (on a speech-like signal), as the benchmark reports."""
    from helpers import speechlike

    from training.benchmarks.mulaw_noise import band_db, deemphasize, preemphasize, schemes

    x = speechlike(2.0)
    assert np.allclose(deemphasize(preemphasize(x, 0.85), 0.85), x, atol=1e-5)
    out = schemes(x)
    plain, shaped = (band_db(out[k] - x) for k in ("mu-law 8-bit", "pre-emphasis 0.85 + mu-law 8-bit"))
    assert shaped < plain - 3
    assert band_db(out["mu-law 10-bit"] - x) < plain - 6  # 4x the classes: about 12 dB less


def test_adaptation_benchmark_refuses_a_model_that_names_no_vocoder(tmp_path):
    """A checkpoint fresh from training recommends no vocoder, so "auto" would measure every
    mode through the WaveNet: the benchmark says so instead of running."""
    from tests.helpers import compact_backbone
    from training.benchmarks.adaptation import main
    from voiceadapt.models.checkpoint import save

    path = save(compact_backbone(), tmp_path / "fresh.safetensors")
    with pytest.raises(SystemExit, match="recommends no vocoder"):
        main(["--model", str(path), "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "o")])


def test_adaptation_benchmark_names_unknown_speakers(tiny_corpus, tmp_path, capsys):
    """--only picks dev speakers by name; a name the corpus lacks is a clear error."""
    from training.benchmarks.adaptation import main

    corpus, _, _ = tiny_corpus
    with pytest.raises(SystemExit):
        main(["--corpus", str(corpus.root), "--only", "nobody-s0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "not dev speakers of" in err and "nobody-s0" in err


def test_named_options_are_read_in_order_and_bad_ones_are_usage_errors(capsys):
    """The benchmarks' NAME=PATH options (--model plain= means the bundled model)."""
    import argparse

    from training.benchmarks.report import named_values

    parser = argparse.ArgumentParser(prog="bench")
    got = named_values(parser, ["plain=", "leap=runs/x.safetensors"], "model", "LABEL=CHECKPOINT",
                       empty_value=True)
    assert list(got.items()) == [("plain", ""), ("leap", "runs/x.safetensors")]
    for specs, empty, message in [(["plain"], True, "takes LABEL=CHECKPOINT, got 'plain'"),
                                  (["=x"], True, "takes LABEL=CHECKPOINT"),
                                  (["a="], False, "takes LABEL=CHECKPOINT, got 'a='"),
                                  (["a=x", "a=y"], True, "'a' is given twice")]:
        with pytest.raises(SystemExit):
            named_values(parser, specs, "model", "LABEL=CHECKPOINT", empty_value=empty)
        assert message in capsys.readouterr().err


def test_refit_benchmark_runs_on_a_tiny_corpus_and_counts_the_speakers_it_helped(tiny_corpus):
    """The refit benchmark fits each picked training speaker with and without the refit and
    reports both query losses; its table's means and counts follow its rows."""
    from training.benchmarks.refit import markdown, pick_speakers, run, transcribed_by_speaker

    corpus, _, _ = tiny_corpus
    by_speaker = transcribed_by_speaker(corpus)
    speakers = pick_speakers(corpus, by_speaker, 5, query_clips=1)
    assert speakers and all(corpus.speakers[s].split == "train" for s in speakers)
    rows = [{"speaker": s, "seconds": 5.0, "mode": "patch", "refit": refit,
             "query_loss": loss, "fit_seconds": 1.0}
            for s, (a, b) in zip("xyz", [(2.0, 1.0), (2.0, 3.0), (2.0, 1.5)], strict=True)
            for refit, loss in ((False, a), (True, b))]
    table = markdown({"query_clips": 6, "rows": rows})
    assert "| patch | 5 s | 2.0000 | 1.8333 | 2 of 3 | 1.0 / 1.0 |" in table
    assert pick_speakers(corpus, by_speaker, 5) == []  # 3 clips a speaker: too few for 6 query clips
    result = run(str(corpus.root), 1, [2.0], ["patch"], query_clips=1, steps=10)
    off, on = result["rows"]
    assert (off["refit"], on["refit"]) == (False, True) and off["steps"] == on["steps"] > 0
    assert np.isfinite(off["query_loss"]) and off["query_loss"] != on["query_loss"]


class _StandInJudges:
    """Deterministic stand-ins for the optional judges: a d-vector from the waveform's
    spectrum, a constant WER and DNSMOS."""

    def dvector(self, wav: np.ndarray) -> np.ndarray:
        spectrum = np.log1p(np.abs(np.fft.rfft(wav[:16_000], n=254)))
        return spectrum / np.linalg.norm(spectrum)

    def wer(self, refs: list[str], wavs: list[np.ndarray]) -> tuple[float, list[str]]:
        return 1.0, ["" for _ in refs]

    def dnsmos(self, wav: np.ndarray) -> float:
        return 1.0


def test_judged_budgets_take_turns_resume_and_summarize_every_cell(tiny_corpus, tmp_path,
                                                                 monkeypatch):
    """Every (speaker, backbone, budget) cell is fitted with that budget and scored, each
    speaker's backbones are warmed up before its first measured fit, the backbones take turns, a
    rerun keeps finished cells (and only those with the same settings), and the table's means
    follow the cells."""
    from tests.helpers import compact_backbone
    from training.benchmarks import adaptation, judged_budgets
    from training.benchmarks.judged_budgets import markdown, run, schedule

    # a Latin square: each (speaker, budget) fits every backbone once, and the first backbone
    # changes from one (speaker, budget) to the next even when the counts are multiples
    order = schedule(["s", "t"], [5, 10], ["a", "b"])
    assert order == [("s", 5, "a"), ("s", 5, "b"), ("s", 10, "b"), ("s", 10, "a"),
                     ("t", 5, "b"), ("t", 5, "a"), ("t", 10, "a"), ("t", 10, "b")]
    firsts = [schedule(["s", "t"], [1, 2, 3, 4, 5], list("abcde"))[i * 5][2] for i in (0, 5)]
    assert firsts == ["a", "b"]  # 5 budgets x 5 backbones: the second speaker starts elsewhere
    calls: list[str] = []
    monkeypatch.setattr(judged_budgets, "_warm_up",
                        lambda *a, **k: calls.append("warm") or adaptation._warm_up(*a, **k))
    monkeypatch.setattr(judged_budgets, "fit",
                        lambda *a, **k: calls.append("fit") or adaptation.fit(*a, **k))
    corpus, _, _ = tiny_corpus
    speakers = sorted({u.speaker for u in corpus.split("dev")})  # the tiny preset has one
    model = compact_backbone(sorted({u.speaker for u in corpus.split("train")}))
    model.extra["vocoder"] = "griffin-lim"
    other = compact_backbone(sorted({u.speaker for u in corpus.split("train")}))
    other.extra["vocoder"] = "griffin-lim"
    with torch.no_grad():
        other.acoustic.to_mel.weight.mul_(0.5)  # another backbone: another fingerprint
    log: list[str] = []
    parts = tmp_path / "parts"
    result = run({"x": model, "y": other}, corpus, speakers, 2.0, [1, 3], "patch", 2,
                 _StandInJudges(), parts=parts, log=log.append)
    done = [line.split()[1] for line in log if "budget" in line]
    assert done[:4] == ["x", "y", "y", "x"]  # speaker 1: budget 1 x then y, budget 3 y then x
    # both backbones warmed up once for the speaker, before its first measured fit
    assert calls[:2] == ["warm", "warm"] and calls.count("warm") == 2 * len(speakers)
    assert len(result["rows"]) == len(speakers) * 2 * 2
    assert all(0 < r["kept_step"] <= 2 * r["budget"] for r in result["rows"])
    for entry in result["table"]:
        mine = [r for r in result["rows"]
                if r["backbone"] == entry["backbone"] and r["budget"] == entry["budget"]]
        assert entry["similarity"] == pytest.approx(np.mean([r["similarity"] for r in mine]))
        assert entry["trials"] == 2 * len(speakers)
    assert f"| x | 3 | {result['table'][1]['fit_s']:.2f} |" in markdown(result)
    log.clear()
    calls.clear()
    again = run({"x": model, "y": other}, corpus, speakers, 2.0, [1, 3, 4], "patch", 2,
                _StandInJudges(), parts=parts, log=log.append)
    assert sum("kept from" in line for line in log) == len(speakers) * 2 * 2
    assert sum("budget   4" in line for line in log) == len(speakers) * 2  # only the new budget fits
    assert calls.count("fit") == len(speakers) * 2 and calls.index("warm") < calls.index("fit")
    for key in ("similarity", "fit_s", "kept_steps"):  # the kept cells, as they were
        assert again["table"][0][key] == result["table"][0][key]
    log.clear()
    run({"x": model, "y": other}, corpus, speakers, 3.0, [1], "patch", 2, _StandInJudges(),
        parts=parts, log=log.append)  # other settings (3 s of reference): nothing is kept
    assert not any("kept from" in line for line in log)
    assert sum("budget   1" in line for line in log) == len(speakers) * 2
    assert all(r["mode"] == "patch" and r["seconds"] == 2.0 for r in result["rows"])


def test_judged_budgets_eer_scores_each_utterance_against_every_enrollment():
    from training.benchmarks.judged_budgets import summarize

    enroll = {"p": np.array([1.0, 0.0]), "q": np.array([0.0, 1.0])}

    def cell(speaker, vectors):
        row = {"backbone": "x", "budget": 5, "speaker": speaker, "similarity": 0.5, "wer": None,
               "dnsmos_ovrl": 1.0, "fit_s": 2.0, "kept_step": 5}
        return {"row": row, "trials": vectors}

    right = [cell("p", [[0.9, 0.1], [0.8, 0.2]]), cell("q", [[0.1, 0.9], [0.3, 0.7]])]
    wrong = [cell("p", [[0.1, 0.9]]), cell("q", [[0.9, 0.1]])]
    for cells, eer in ((right, 0.0), (wrong, 1.0)):
        entry = summarize(cells, enroll, {"p": 0.9, "q": 0.9}, ["x"], [5], "patch", 10.0,
                          {"x": "f"})["table"][0]
        assert entry["eer"] == eer and entry["wer"] is None and entry["fit_s"] == 2.0
