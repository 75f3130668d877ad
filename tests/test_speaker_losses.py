"""The speaker-consistency and adversarial speaker losses (issue 13), and a training run that
uses both, saves the adversary and resumes it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from training.speaker_losses import SpeakerAdversary, reverse_gradient
from voiceadapt.models.encoder import EncoderConfig, SpeakerEncoder
from voiceadapt.models.losses import speaker_consistency_loss


def _voices(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two 'voices': mels whose spectral envelopes differ, with a shared mask."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(2, 80, 1, generator=gen) * 2
    mels = base + 0.3 * torch.randn(2, 80, 60, generator=gen)
    mask = torch.ones(2, 60, dtype=torch.bool)
    mask[1, 45:] = False
    return mels[:1], mels[1:], mask


def test_speaker_consistency_is_zero_for_the_same_voice_and_trains_only_the_prediction():
    torch.manual_seed(0)
    encoder = SpeakerEncoder(EncoderConfig())
    a, b, mask = _voices()
    same = speaker_consistency_loss(encoder, a.clone(), a, mask[:1])
    assert float(same) == pytest.approx(0.0, abs=1e-5)
    # a row shorter than the batch: the prediction is zero past its end, the recording is
    # not; a perfect prediction still scores 0
    short = speaker_consistency_loss(encoder, b * mask[1:, None, :], b, mask[1:])
    assert float(short) == pytest.approx(0.0, abs=1e-5)
    pred = b.clone().requires_grad_(True)
    loss = speaker_consistency_loss(encoder, pred, a, mask[:1])
    assert float(loss.detach()) > 0.01
    loss.backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0
    assert all(p.grad is None for p in encoder.parameters())  # the encoder is the fixed judge
    # following the gradient moves the prediction's voice toward the recording's
    with torch.no_grad():
        stepped = pred - 50.0 * pred.grad
    assert float(speaker_consistency_loss(encoder, stepped, a, mask[:1])) < float(loss.detach())


def test_gradient_reversal_flips_scales_and_clips_the_gradient():
    x = torch.randn(3, 4, requires_grad=True)
    (reverse_gradient(x, 0.5) * torch.arange(4.0)).sum().backward()
    assert torch.equal(x.grad, -0.5 * torch.arange(4.0).expand(3, 4))
    y = torch.randn(3, 4, requires_grad=True)
    (reverse_gradient(y, 2.0, clip=1.5) * torch.arange(4.0)).sum().backward()
    assert torch.equal(y.grad, -2.0 * torch.tensor([0.0, 1.0, 1.5, 1.5]).expand(3, 4))


def test_the_adversary_learns_the_speaker_while_its_gradient_hides_it():
    """On token states that carry the speaker, the classifier's loss falls as it trains;
    the gradient it sends the states points the other way: it raises that loss."""
    torch.manual_seed(0)
    speakers = torch.tensor([0, 1, 2, 0, 1, 2])
    x = torch.randn(6, 7, 16) * 0.3 + torch.nn.functional.one_hot(speakers, 16)[:, None, :] * 2.0
    mask = torch.ones(6, 7, dtype=torch.bool)
    mask[0, 5:] = False
    adversary = SpeakerAdversary(16, 3, hidden=32)
    opt = torch.optim.Adam(adversary.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(adversary(x, mask, speakers))
    for _ in range(60):
        opt.zero_grad()
        adversary(x, mask, speakers).backward()
        opt.step()
    with torch.no_grad():
        learned = float(adversary(x, mask, speakers))
    assert learned < 0.3 * first
    states = x.clone().requires_grad_(True)
    adversary(states, mask, speakers).backward()
    with torch.no_grad():
        moved = states - 0.5 * states.grad / states.grad.norm()  # what the text encoder's optimizer does
        assert float(adversary(moved, mask, speakers)) > learned


def test_the_adversary_trains_the_text_encoder_and_never_reaches_the_speaker_embeddings():
    """Its classifier reads an encoding made without g or a language row: the reversed
    gradient reaches the phoneme embeddings and the encoder blocks, never the table, the
    blocks' speaker projections, the SEA-ENC encoder (which makes g in most batches) or the
    language embedding."""
    from tests.helpers import compact_backbone, speechlike
    from training.data import BatchSampler, Item
    from training.step import TrainStep
    from training.train import with_languages
    from voiceadapt.audio import float_to_pcm16

    model = with_languages(compact_backbone(("a", "b", "c")), ["cs", "en-us", "it"]).train()
    params = model.features
    items = []
    for i in range(6):
        audio = float_to_pcm16(speechlike(0.8, params.sample_rate, f0=100 + 30 * (i % 3), seed=i))
        frames = params.num_frames(len(audio))
        items.append(Item(i % 3, np.array([1, 5 + i, 9, 13, 7, 2]), audio,
                          np.full(frames, 100.0 + 30 * (i % 3), np.float32), f"u{i}",
                          language=["cs", "en-us", "it"][i % 3]))  # each speaker one language
    batch = BatchSampler(items, params, seed=0).acoustic(6)
    step = TrainStep(model, speaker_adversary=1.0)
    losses = step(batch, None, use_encoder=True, bin_weight=0.0)
    losses["adv"].backward()
    assert float(model.acoustic.embed.weight.grad.abs().sum()) > 0
    assert float(model.acoustic.encoder[0].ff[0].weight.grad.abs().sum()) > 0
    for name, p in model.named_parameters():
        # (a block's speaker projection has a bias, which is speaker-free: it may learn)
        if name.startswith(("speaker_table", "encoder.", "acoustic.language.")) or \
                name.endswith(".spk.weight"):
            assert p.grad is None or float(p.grad.abs().sum()) == 0.0, name


def test_a_run_with_both_losses_logs_them_and_resumes_its_adversary(tiny_corpus, tmp_path):
    from training.config import from_dict
    from training.data import load_corpus_items
    from training.train import Trainer
    from voiceadapt.audio import FeatureParams

    corpus, _, root = tiny_corpus
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    cfg = from_dict({
        "model": {"size": "compact", "speaker_channels": 16},
        "train": {"steps": 4, "batch_size": 4, "wavenet": False, "warmup_steps": 1,
                  "checkpoint_every": 4, "log_every": 2, "speaker_consistency": 1.0,
                  "speaker_adversary": 0.5, "encoder_prob": 1.0},
    })
    run = tmp_path / "run"
    trainer = Trainer(cfg, run, items, speakers, params)
    assert trainer.step_core.adversary is not None
    adversary_params = {id(p) for p in trainer.step_core.adversary.parameters()}
    assert adversary_params <= {id(p) for group in trainer.opt.param_groups for p in group["params"]}
    before = [p.detach().clone() for p in trainer.step_core.adversary.parameters()]
    trainer.fit()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["scl"] <= 2.0 and r["adv"] > 0 for r in rows)
    trained = [p.detach().clone() for p in trainer.step_core.adversary.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, trained, strict=True))
    again = Trainer(cfg, run, items, speakers, params)
    again.resume()
    assert again.step == 4
    for a, b in zip(trained, again.step_core.adversary.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="acoustic losses"):
        from_dict({"model": {"init": "x"}, "train": {"acoustic": False, "speaker_consistency": 1.0}})
