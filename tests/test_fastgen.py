"""The compiled WaveNet kernel against the PyTorch reference; folding and streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voiceadapt.audio import mu_law_decode
from voiceadapt.models import fastgen
from voiceadapt.models.wavenet import WaveNet, WaveNetConfig, generate

CFG = WaveNetConfig(layers=6, stacks=2, residual_channels=16, gate_channels=32,
                    skip_channels=16, cond_channels=8, speaker_channels=4, hop_length=10)


@pytest.fixture
def net():
    torch.manual_seed(0)
    model = WaveNet(CFG).eval()
    with torch.no_grad():  # larger weights than the init: a harder numerical test
        for p in model.parameters():
            p.mul_(2.0)
    return model


def test_kernel_logits_match_the_reference(net):
    frames, g = torch.randn(2, 8, 30), torch.randn(2, 4)
    teacher = torch.randint(0, 256, (2, 300))
    _, ref = generate(net, frames, g, teacher=teacher)
    c = net.upsample_frames(frames, 300)
    stream = fastgen.Stream(net, 2)
    inputs = fastgen.layer_inputs(net, c, g)
    _, first = stream.run(inputs[:137], teacher=teacher[:, :137].T.numpy().copy(), keep_logits=True)
    _, rest = stream.run(inputs[137:], teacher=teacher[:, 137:].T.numpy().copy(), keep_logits=True)
    logits = np.concatenate([first, rest]).transpose(1, 2, 0)  # (B, classes, T)
    assert np.abs(logits - ref.numpy()).max() < 1e-4


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_seeded_sampling_is_identical(net, temperature):
    frames, g = torch.randn(1, 8, 40), torch.randn(1, 4)
    ref, _ = generate(net, frames, g, temperature=temperature,
                      generator=torch.Generator().manual_seed(11))
    fast = fastgen.generate_fast(net, frames, g, temperature=temperature,
                                 generator=torch.Generator().manual_seed(11), folds=1)
    expected = mu_law_decode(ref[0], 256).numpy()
    assert len(fast) == len(expected) and np.abs(fast - expected).max() < 1e-6
    other = fastgen.generate_fast(net, frames, g, generator=torch.Generator().manual_seed(12))
    assert not np.array_equal(other, fast)


def test_join_crossfades_folds_into_one_continuous_signal():
    plan = fastgen.Folding.plan(1000, folds=4, overlap=40)
    assert (plan.folds, plan.fold, plan.overlap, plan.steps) == (4, 250, 40, 290)
    t = np.arange(-plan.overlap, plan.fold * plan.folds, dtype=np.float64)
    signal = np.sin(2 * np.pi * t / 97.0).astype(np.float32)
    rng = np.random.default_rng(0)
    folds = np.stack([signal[i * plan.fold: i * plan.fold + plan.steps] for i in range(4)], 1)
    # a fold's warm-up is only roughly right at first: noise that fades out over the overlap
    folds[: plan.overlap, 1:] += rng.normal(0, 0.3, (plan.overlap, 3)).astype(np.float32) * \
        np.linspace(1, 0, plan.overlap, dtype=np.float32)[:, None]
    joined = fastgen._join(folds, plan, lambda x: x)
    assert len(joined) == 1000
    err = np.abs(joined - signal[plan.overlap:plan.overlap + 1000])
    assert err.max() < 0.16  # only the faded tail of the warm-up noise is mixed in
    jumps = np.abs(np.diff(joined))
    assert jumps.max() < 2.5 * np.abs(np.diff(signal)).max()


def test_folded_generation_has_no_gaps_at_boundaries(net):
    frames, g = torch.randn(1, 8, 400), torch.randn(1, 4)
    wav = fastgen.generate_fast(net, frames, g, generator=torch.Generator().manual_seed(1),
                                folds=4, overlap=200)
    assert len(wav) == 4000 and np.isfinite(wav).all()
    plan = fastgen.Folding.plan(4000, 4, 200)
    windows = wav[: len(wav) // 50 * 50].reshape(-1, 50)
    typical = np.median(np.sqrt((windows ** 2).mean(1)))
    for i in range(1, plan.folds):
        edge = i * plan.fold
        around = wav[edge - 150: edge + 50]
        energy = np.sqrt((around.reshape(-1, 50) ** 2).mean(1))
        assert energy.min() > 0.2 * typical, (i, energy, typical)  # no silent gap
        assert energy.max() < 5.0 * typical  # no burst


def test_stream_yields_pieces_in_order(net):
    frames, g = torch.randn(1, 8, 100), torch.randn(1, 4)
    gen = torch.Generator().manual_seed(3)
    pieces = list(fastgen.stream(net, frames, g, generator=gen, chunk=128))
    whole = fastgen.generate_fast(net, frames, g, generator=torch.Generator().manual_seed(3))
    assert [len(p) for p in pieces[:-1]] == [128] * (len(pieces) - 1)
    assert np.abs(np.concatenate(pieces) - whole).max() < 1e-6
    folded = list(fastgen.stream(net, frames, g, generator=torch.Generator().manual_seed(3),
                                 folds=2, overlap=100, chunk=128))
    assert len(folded) > 2 and sum(map(len, folded)) == 1000
    joined = fastgen.generate_fast(net, frames, g, generator=torch.Generator().manual_seed(3),
                                   folds=2, overlap=100)
    assert np.abs(np.concatenate(folded) - joined).max() < 1e-6


def test_default_folds_follow_the_cores_whatever_the_environment(monkeypatch):
    """The server's VOICEADAPT_WAVENET_FOLDS=0 means one fold per core; the library once
    re-read the variable and ran the slowest, unfolded path."""
    import os

    from voiceadapt.models.vocoders import default_folds

    monkeypatch.setenv("VOICEADAPT_WAVENET_FOLDS", "0")
    assert default_folds() == max(1, min(4, os.cpu_count() or 1))
