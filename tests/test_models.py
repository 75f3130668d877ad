"""Compact models: shapes, incremental == parallel WaveNet, alignment, checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import N_MELS, compact_backbone

from voiceadapt.files import sha256_file
from voiceadapt.models import alignment
from voiceadapt.models.acoustic import AcousticModel, regulate_length, sequence_mask
from voiceadapt.models.checkpoint import CheckpointError, load, save
from voiceadapt.models.encoder import EncoderConfig, SpeakerEncoder
from voiceadapt.models.wavenet import WaveNet, WaveNetConfig, generate
from voiceadapt.text import SymbolTable, SymbolTableMismatch


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_incremental_generation_equals_parallel_forward(kernel_size):
    torch.manual_seed(0)
    cfg = WaveNetConfig(residual_channels=16, gate_channels=32, skip_channels=16, layers=6,
                        stacks=2, kernel_size=kernel_size, cond_channels=8, speaker_channels=4,
                        hop_length=4)
    net = WaveNet(cfg).eval()
    frames, g = torch.randn(2, 8, 12), torch.randn(2, 4)
    audio = torch.randint(0, 256, (2, 48))
    parallel = net(audio, frames, g)
    samples, incremental = generate(net, frames, g, teacher=audio)
    assert torch.equal(samples, audio)
    assert (parallel - incremental).abs().max() < 1e-4


def test_wavenet_is_causal_and_speaker_conditioned():
    torch.manual_seed(0)
    cfg = WaveNetConfig(residual_channels=8, gate_channels=16, skip_channels=8, layers=4,
                        stacks=2, cond_channels=4, speaker_channels=3, hop_length=5)
    net = WaveNet(cfg).eval()
    frames, g = torch.randn(1, 4, 6), torch.randn(1, 3)
    a = torch.randint(0, 256, (1, 30))
    b = a.clone()
    b[0, 20:] = (b[0, 20:] + 7) % 256  # change the future from t = 20
    la, lb = net(a, frames, g), net(b, frames, g)
    assert torch.allclose(la[..., :21], lb[..., :21])  # logits at t <= 20 see samples < t only
    assert not torch.allclose(la[..., 21:], lb[..., 21:])
    assert not torch.allclose(la, net(a, frames, torch.randn(1, 3)))


def test_seeded_sampling_is_reproducible():
    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(residual_channels=8, gate_channels=16, skip_channels=8, layers=2,
                                stacks=1, cond_channels=4, speaker_channels=0, hop_length=4)).eval()
    frames = torch.randn(1, 4, 5)
    runs = [generate(net, frames, generator=torch.Generator().manual_seed(7))[0] for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


def test_length_regulator_repeats_tokens():
    x = torch.arange(3, dtype=torch.float32).view(1, 3, 1)
    out, lengths = regulate_length(x, torch.tensor([[2, 0, 3]]))
    assert lengths.tolist() == [5]
    assert out.squeeze().tolist() == [0, 0, 2, 2, 2]


def test_mas_finds_the_planted_monotonic_path():
    rng = np.random.default_rng(0)
    durations = [3, 1, 4, 2]
    truth = np.repeat(np.arange(4), durations)
    logp = rng.normal(-5, 0.5, (len(truth), 4))
    logp[np.arange(len(truth)), truth] = 0.0
    path = alignment.monotonic_alignment_search(logp, 4, len(truth))
    assert path.sum(0).tolist() == durations
    assert (path.sum(1) == 1).all()


def _fixed_batch() -> tuple[torch.Tensor, ...]:
    """Two random utterances (9 and 6 tokens, 30 and 20 frames): ids, text lengths, mels,
    mel lengths, pitch and the alignment prior, the same on every call."""
    torch.manual_seed(1)
    n, t = torch.tensor([9, 6]), torch.tensor([30, 20])
    ids = torch.randint(4, 40, (2, 9)) * sequence_mask(n, 9)
    mels = torch.randn(2, N_MELS, 30) * sequence_mask(t, 30)[:, None]
    pitch = torch.randn(2, 30) * sequence_mask(t, 30)
    prior = alignment.batch_prior(n.tolist(), t.tolist(), torch.device("cpu"))
    return ids, n, mels, t, pitch, prior


def test_acoustic_losses_fall_on_a_fixed_batch():
    model = compact_backbone()
    ac: AcousticModel = model.acoustic
    ids, n, mels, t, pitch, prior = _fixed_batch()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(25):
        g = model.speaker_table(torch.tensor([0, 1]))
        losses = ac(ids, n, mels, t, pitch, g, prior=prior)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        first = first if first is not None else losses["total"].item()
    assert losses["total"].item() < 0.8 * first
    mel, lengths = ac.eval().infer(ids, g.detach(), lengths=n)
    assert mel.shape[:2] == (2, N_MELS) and (lengths >= n).all()


def test_align_weight_zero_leaves_ctc_out_so_the_loss_differentiates_twice():
    """The default total is the sum it always was; with align_weight 0 the forward-sum (CTC)
    loss is still reported but is no part of the total, whose gradient can then be
    differentiated again (CTC has no double backward: second-order MAML needs this)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = compact_backbone().eval()  # no dropout: the calls below must see the same net
    ac: AcousticModel = model.acoustic
    ids, n, mels, t, pitch, prior = _fixed_batch()
    g = model.speaker_table(torch.tensor([0, 1]))
    full = ac(ids, n, mels, t, pitch, g, prior=prior, bin_weight=0.5)
    assert torch.equal(full["total"], full["mel"] + 0.1 * full["duration"] + 0.1 * full["pitch"]
                       + full["align"] + 0.5 * full["bin"])
    bare = ac(ids, n, mels, t, pitch, g, prior=prior, bin_weight=0.5, align_weight=0.0)
    assert torch.allclose(bare["total"] + full["align"], full["total"])
    assert torch.allclose(bare["align"], full["align"]) and not bare["align"].requires_grad
    params = [p for p in ac.parameters() if p.requires_grad]
    with sdpa_kernel(SDPBackend.MATH):
        bare = ac(ids, n, mels, t, pitch, g, prior=prior, bin_weight=0.5, align_weight=0.0)
        grads = torch.autograd.grad(bare["total"], params, create_graph=True, allow_unused=True)
        square = sum((d ** 2).sum() for d in grads if d is not None)
        again = torch.autograd.grad(square, params, allow_unused=True)
        assert any(d is not None and bool(d.abs().sum() > 0) for d in again)
        full = ac(ids, n, mels, t, pitch, g, prior=prior, bin_weight=0.5)
        grads = torch.autograd.grad(full["total"], params, create_graph=True, allow_unused=True)
        with pytest.raises(RuntimeError, match="not implemented"):
            torch.autograd.grad(sum((d ** 2).sum() for d in grads if d is not None), params,
                                allow_unused=True)


def test_encoder_pools_clips_of_one_speaker():
    enc = SpeakerEncoder(EncoderConfig(n_mels=N_MELS, channels=16, layers=2, speaker_channels=8))
    mels = torch.randn(3, N_MELS, 25)
    mask = sequence_mask(torch.tensor([25, 10, 18]), 25)
    g = enc(mels, mask, group=torch.tensor([0, 0, 1]))
    assert g.shape == (2, 8)
    alone = enc(mels[2:], mask[2:])
    assert torch.allclose(g[1], alone[0], atol=1e-5)


def test_checkpoint_round_trip(tmp_path):
    model = compact_backbone()
    path = save(model, tmp_path / "m.safetensors", extra={"steps": 3})
    again = load(path, expected_sha256=sha256_file(path))
    assert again.speakers == ["a", "b", "c"] and again.extra == {"steps": 3}
    for (k, v), (k2, v2) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
    assert again.features == model.features and again.stats == model.stats


def test_mismatched_or_damaged_checkpoints_are_refused(tmp_path):
    model = compact_backbone()
    path = save(model, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="sha256"):
        load(path, expected_sha256="0" * 64)
    other = SymbolTable(version=model.symbols.version, symbols=model.symbols.symbols[:-1] + ("Z",))
    model.symbols = other
    with pytest.raises(SymbolTableMismatch, match="symbol table mismatch"):
        load(save(model, tmp_path / "old.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load(tmp_path / "junk.safetensors")


def test_batched_mas_and_ctc_match_the_per_item_reference():
    torch.manual_seed(0)
    text_lens, mel_lens = torch.tensor([12, 7, 9]), torch.tensor([40, 25, 9])
    logp = torch.log_softmax(torch.randn(3, 40, 12) * 3, -1)
    hard = alignment.hard_alignment(logp, text_lens, mel_lens)
    for i in range(3):
        n, t = int(text_lens[i]), int(mel_lens[i])
        ref = alignment.monotonic_alignment_search(logp[i].numpy(), n, t)
        assert np.array_equal(hard[i, :t, :n].numpy(), ref)
        assert hard[i].sum() == t and hard[i, t:].sum() == 0
    per_item = []
    for i in range(3):
        n, t = int(text_lens[i]), int(mel_lens[i])
        lp = torch.nn.functional.log_softmax(
            torch.nn.functional.pad(logp[i, :t, :n], (1, 0), value=np.log(0.1)), -1)
        per_item.append(torch.nn.functional.ctc_loss(
            lp[:, None], torch.arange(1, n + 1)[None], torch.tensor([t]), torch.tensor([n]),
            zero_infinity=True))
    batched = alignment.forward_sum_loss(logp, text_lens, mel_lens)
    assert torch.allclose(batched, torch.stack(per_item).mean(), atol=1e-5)


def test_recursive_forward_sum_matches_ctc_and_can_be_differentiated_twice():
    """Second-order MAML differentiates the aligner's loss twice; F.ctc_loss's backward has no
    backward. The recursion gives the same loss and gradient (an item too short for its text
    counting zero, as zero_infinity does), and its Hessian-vector products are the ones finite
    differences of its gradient give."""
    torch.manual_seed(0)
    # the last three: too short for the text, no text, no frames
    text_lens, mel_lens = torch.tensor([12, 7, 9, 6, 0, 1]), torch.tensor([40, 25, 9, 4, 10, 0])
    logp = torch.log_softmax(torch.randn(6, 40, 12, dtype=torch.float64) * 3, -1).requires_grad_(True)
    native = alignment.forward_sum_loss(logp, text_lens, mel_lens)
    (native_grad,) = torch.autograd.grad(native, logp)
    with alignment.twice_differentiable_forward_sum():
        recursive = alignment.forward_sum_loss(logp, text_lens, mel_lens)
        (grad,) = torch.autograd.grad(recursive, logp, create_graph=True)
    assert torch.allclose(recursive, native, atol=1e-5)
    assert torch.allclose(grad, native_grad, atol=1e-6)
    # why the recursion exists (a PyTorch that can differentiate CTC's backward fails this
    # line: then the recursion can go)
    with pytest.raises(RuntimeError):
        (g,) = torch.autograd.grad(native, logp, create_graph=True)
        torch.autograd.grad(g.sum(), logp)
    direction = torch.randn_like(logp)
    (hv,) = torch.autograd.grad((grad * direction).sum(), logp)
    assert hv.abs().max() > 0

    def gradient_at(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with alignment.twice_differentiable_forward_sum():
            return torch.autograd.grad(alignment.forward_sum_loss(x, text_lens, mel_lens), x)[0]

    eps = 1e-5
    finite = (gradient_at(logp + eps * direction) - gradient_at(logp - eps * direction)) / (2 * eps)
    assert torch.allclose(hv, finite, atol=1e-6, rtol=1e-4)


def test_one_table_of_model_sizes():
    """The "default" size is the networks' own defaults; training builds every size from the
    table, and a checkpoint's extra record is a declared attribute, not a monkeypatch."""
    from voiceadapt.models.acoustic import AcousticConfig
    from voiceadapt.models.backbone import MODEL_SIZES, BackboneConfig

    cfg = BackboneConfig.sized("default", 99)
    assert cfg.acoustic == AcousticConfig(n_symbols=99)
    assert cfg.wavenet == WaveNetConfig() and cfg.encoder == EncoderConfig()
    assert BackboneConfig.sized("compact", 99, 20, 40, 16) == BackboneConfig.compact(99, 20, 40)
    assert BackboneConfig.sized("default", 99, wavenet_speaker_channels=0).wavenet.speaker_channels == 0
    assert set(MODEL_SIZES) == {"default", "compact"}
    with pytest.raises(ValueError, match="default, compact"):
        BackboneConfig.sized("huge", 99)
    model = compact_backbone()
    assert model.extra == {} and model.recommended_vocoder is None


def test_cut_segment_is_the_padded_slice_anywhere_in_the_utterance():
    """One segment and its mel context, cut from the window alone, equal the slice of the
    utterance zero-padded on both sides, at its start, its end and past it; any dtype."""
    import torch.nn.functional as F

    from voiceadapt.audio import FeatureParams
    from voiceadapt.models.losses import cut_segment

    params = FeatureParams()
    pad, segment = params.n_fft // 2, 800
    audio = torch.arange(1, 3001, dtype=torch.int16)
    padded = F.pad(audio, (pad, pad + segment))
    for start in (0, 200, 2200, 2800, 3000):
        seg, ctx = cut_segment(audio, start, params, segment)
        assert torch.equal(ctx, padded[start : start + segment + 2 * pad])
        assert torch.equal(seg, padded[pad + start : pad + start + segment])
