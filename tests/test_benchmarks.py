"""Benchmark arithmetic that must be right for the figures to mean anything."""

from __future__ import annotations

import numpy as np
import pytest

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
