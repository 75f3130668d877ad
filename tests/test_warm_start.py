"""Training a new corpus from an older backbone: weights that fit are kept, the symbol table
grows, the speaker table starts where the encoder puts each speaker, and the voice's pitch
travels measured in the embedding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.config import from_dict
from training.data import load_corpus_items
from training.train import Trainer
from voiceadapt.audio import FeatureParams
from voiceadapt.models.checkpoint import save


@pytest.fixture(scope="module")
def v2_items(v2_tiny_corpus):
    corpus, _, root = v2_tiny_corpus
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    return items, speakers, params


def _cfg(**model):
    return from_dict({"model": {"size": "compact", "speaker_channels": 16, **model},
                      "train": {"batch_size": 4, "warmup_steps": 1, "lr": 0.003}})


def test_warm_start_keeps_old_weights_grows_symbols_and_places_the_table(v2_items, tiny_corpus,
                                                                         tmp_path):
    items, speakers, params = v2_items
    # the "old" model: en-ipa-1, trained on other speakers (the tiny English corpus)
    corpus, _, root = tiny_corpus
    old_items, old_speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    old = Trainer(_cfg(), tmp_path / "old", old_items, old_speakers, params).model
    old_path = save(old, tmp_path / "old.safetensors")
    encoder_path = tmp_path / "encoder.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in old.encoder.state_dict().items()}, str(encoder_path))

    new = Trainer(_cfg(symbols="ipa-2", pitch_in_speaker=True, warm_start=str(old_path),
                       encoder_init=str(encoder_path)), tmp_path / "new", items, speakers, params)
    model = new.model
    assert model.stats == old.stats  # the copied weights expect the old normalization
    n_old = len(old.symbols)
    assert len(model.symbols) > n_old
    assert torch.equal(model.acoustic.embed.weight[:n_old], old.acoustic.embed.weight)
    assert torch.equal(model.acoustic.decoder[0].attn.in_proj_weight,
                       old.acoustic.decoder[0].attn.in_proj_weight)
    # every speaker's row: its measured pitch in the last two channels, and the encoder's
    # embedding of its own utterances nearer its own row than any other speaker's
    table = model.speaker_table.weight.detach()
    from training.warm_start import speaker_means

    means, pitch = speaker_means(model, items, len(speakers))
    assert torch.allclose(table[:, -2:], pitch)
    f0 = np.concatenate([it.f0 for it in items if it.speaker == 0])
    logf0 = np.log(f0[f0 > 0])
    assert pitch[0, 0].item() == pytest.approx((logf0.mean() - model.stats.logf0_mean)
                                               / model.stats.logf0_std, abs=1e-3)
    sims = torch.nn.functional.normalize(means[:, :-2], dim=-1) @ \
        torch.nn.functional.normalize(table[:, :-2], dim=-1).T
    assert (sims.argmax(1) == torch.arange(len(speakers))).all()
    # training never moves the measured pitch channels, and does move the rest
    before = table.clone()
    for _ in range(3):
        new.train_step()
    after = model.speaker_table.weight.detach()
    assert torch.equal(after[:, -2:], before[:, -2:])
    assert not torch.equal(after[:, :-2], before[:, :-2])


def test_voice_pitch_is_measured_and_the_predictor_follows_it(v2_items, tmp_path):
    items, speakers, params = v2_items
    model = Trainer(_cfg(symbols="ipa-2", pitch_in_speaker=True), tmp_path / "m", items, speakers,
                    params).model.eval()
    stats = model.stats
    f0 = torch.tensor([[0.0] * 10 + [200.0] * 30 + [0.0] * 5, [0.0] * 45])
    measured = stats.voice_pitch(f0)
    assert measured[0, 0].item() == pytest.approx((math.log(200) - stats.logf0_mean) / stats.logf0_std,
                                                  abs=1e-4)
    assert measured[0, 1].item() == pytest.approx(0.0, abs=1e-4)
    assert measured[1].tolist() == [0.0, 1.0]  # nothing voiced: the corpus's own pitch
    # the same voice a fifth higher: every predicted voiced token's log-F0 moves by that much
    ids = torch.from_numpy(items[0].ids)[None]
    g = model.speaker_table.weight[:1].detach().clone()
    g[:, -1] = 0.5
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.no_grad():
        x = model.acoustic.encode(ids, mask, g)
        low = model.acoustic.predict_pitch(x, mask, g)
        g_high = g.clone()
        g_high[:, -2] += math.log(1.5) / stats.logf0_std
        high = model.acoustic.predict_pitch(model.acoustic.encode(ids, mask, g_high), mask, g_high)
    # the encoder sees g too, so the z-scores may differ a little; the offset dominates
    shift = (high - low).mean().item() * stats.logf0_std
    assert shift == pytest.approx(math.log(1.5), rel=0.3)


def _wav(samples: np.ndarray) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, 16_000, format="WAV")
    return buf.getvalue()


def test_sea_enc_measures_the_reference_pitch(v2_items, tmp_path):
    from helpers import speechlike

    from voiceadapt.adapt.sea_enc import embedding_from_clips
    from voiceadapt.audio import load_audio

    items, speakers, params = v2_items
    model = Trainer(_cfg(symbols="ipa-2", pitch_in_speaker=True), tmp_path / "m", items, speakers,
                    params).model.eval()
    low = load_audio(_wav(speechlike(3.0, f0=110.0)))
    high = load_audio(_wav(speechlike(3.0, f0=220.0)))
    g_low, g_high = embedding_from_clips(model, [low]), embedding_from_clips(model, [high])
    octave = (g_high[-2] - g_low[-2]).item() * model.stats.logf0_std
    assert octave == pytest.approx(math.log(2), abs=0.1)
