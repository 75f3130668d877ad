"""Fast WaveNet generation on the CPU: a compiled (numba) incremental kernel, batched
over folds of one utterance, streamed chunk by chunk.

The kernel keeps each layer's past inputs in a ring buffer (kernel size 2: the tap at
t - dilation and the current input), does every per-sample matrix product with all
streams at once (BLAS through numba, no Python between samples), and samples each class
by inverting the softmax's CDF at a uniform number drawn in advance from a seeded
``torch.Generator``. ``voiceadapt.models.wavenet.generate`` samples the same way, so with
the same generator the two give the same samples.

Folding (as in fatchord's WaveRNN): an utterance is cut into ``folds`` pieces generated
side by side as a batch; each piece first runs over ``overlap`` samples of the previous
piece's conditioning (its warm-up, discarded but for a crossfade), so a piece starts in
a state close to where the previous one would have been. ``folds=1`` is exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np
import torch

from voiceadapt.models.wavenet import WaveNet, draw_uniforms

SQRT_HALF = np.float32(0.7071067811865476)
# fast-math without reassociation: sums keep their order, so results do not depend on how
# numpy happened to align an array (with reassociation a vectorized sum's order does, and
# a sample drawn near a CDF step could differ between two runs with the same seed)
FAST = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
# tanh by table and linear interpolation (sigmoid(x) = (1 + tanh(x / 2)) / 2): libm's tanh
# and exp were half of a sample's time; the table's error is under 2e-6
TANH_RANGE = 9.0
TANH_POINTS = 8193
TANH_TABLE = np.tanh(np.linspace(-TANH_RANGE, TANH_RANGE, TANH_POINTS)).astype(np.float32)
TANH_SCALE = np.float32((TANH_POINTS - 1) / (2 * TANH_RANGE))


@numba.njit(fastmath=FAST, inline="always", cache=True)
def _tanh(x):
    u = (x + np.float32(TANH_RANGE)) * TANH_SCALE
    if u <= 0.0:
        return np.float32(-1.0)
    if u >= TANH_POINTS - 1:
        return np.float32(1.0)
    i = int(u)
    f = u - np.float32(i)
    return TANH_TABLE[i] + f * (TANH_TABLE[i + 1] - TANH_TABLE[i])


@dataclass
class Weights:
    """The WaveNet's tensors as contiguous float32 arrays, laid out for the kernel."""

    embed: np.ndarray  # (n_classes, R)
    w_cat: np.ndarray  # (L, 2R, G): [tap at t - dilation ; tap at t], input-major
    w_out: np.ndarray  # (L, G/2, R + S)
    b_out: np.ndarray  # (L, R + S)
    head1: np.ndarray  # (S in, S out)
    head1_b: np.ndarray
    head2: np.ndarray  # (S, n_classes)
    head2_b: np.ndarray
    dilations: np.ndarray  # (L,)
    offsets: np.ndarray  # (L,) start of each layer's ring in the flat buffer

    @classmethod
    def of(cls, net: WaveNet) -> Weights:
        if net.cfg.kernel_size != 2:
            raise ValueError("the fast kernel supports kernel_size 2 only")

        def np32(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().float().cpu().numpy())

        convs = [layer.conv.weight for layer in net.layers]  # (G, R, 2)
        dil = np.array(net.cfg.dilations, dtype=np.int64)
        return cls(
            embed=np32(net.embed.weight),
            w_cat=np.stack([np32(torch.cat([w[:, :, 0], w[:, :, 1]], dim=1).T) for w in convs]),
            w_out=np.stack([np32(layer.out.weight[:, :, 0].T) for layer in net.layers]),
            b_out=np.stack([np32(layer.out.bias) for layer in net.layers]),
            head1=np32(net.head[1].weight[:, :, 0].T), head1_b=np32(net.head[1].bias),
            head2=np32(net.head[3].weight[:, :, 0].T), head2_b=np32(net.head[3].bias),
            dilations=dil, offsets=np.concatenate([[0], np.cumsum(dil)[:-1]]).astype(np.int64),
        )


def layer_inputs(net: WaveNet, c: torch.Tensor, g: torch.Tensor | None) -> np.ndarray:
    """Everything a layer adds before its gate that does not depend on the samples:
    conditioning, speaker bias and conv bias. c: (B, C, T) -> (T, B, L, G) float32."""
    with torch.no_grad():
        w = torch.stack([layer.cond.weight[:, :, 0] for layer in net.layers])  # (L, G, C)
        out = torch.einsum("lgc,bct->tblg", w, c)
        bias = torch.stack([layer.conv.bias for layer in net.layers])  # (L, G)
        out = out + bias
        if g is not None and net.cfg.speaker_channels:
            spk = torch.stack([layer.spk(g) for layer in net.layers], dim=1)  # (B, L, G)
            out = out + spk[None]
    return np.ascontiguousarray(out.float().cpu().numpy())


@numba.njit(fastmath=FAST, cache=True)
def _matvec_add(w_t, v, out):  # out += w @ v with w_t = w.T (cols, rows)
    cols, rows = w_t.shape
    for k in range(cols):  # axpy form: the inner loop is element-wise, so it vectorizes
        vk = v[k]          # without reordering any sum
        for i in range(rows):
            out[i] += w_t[k, i] * vk


@numba.njit(fastmath=FAST, parallel=True, cache=True)
def _steps(w_cat, w_out, b_out, head1, head1_b, head2, head2_b, embed, dilations, offsets,
           inputs, t0, ring, prev, uniforms, inv_temp, teacher, out, logits_out):
    """inputs.shape[0] samples for each of B streams (in parallel) from absolute time t0.
    Updates ring and prev in place; classes to out (T, B); logits if logits_out has T rows."""
    steps, batch, layers, gates = inputs.shape
    res_ch = embed.shape[1]
    half = gates // 2
    both = w_out.shape[2]
    skip_ch = both - res_ch
    classes = head2.shape[1]
    keep_logits = logits_out.shape[0] == steps
    forced = teacher.shape[0] == steps
    for b in numba.prange(batch):
        v = np.empty(2 * res_ch, dtype=np.float32)  # [x at t - dilation, x at t]
        z = np.empty(gates, dtype=np.float32)
        gated = np.empty(half, dtype=np.float32)
        o = np.empty(both, dtype=np.float32)
        skips = np.empty(skip_ch, dtype=np.float32)
        h1 = np.empty(skip_ch, dtype=np.float32)
        logits = np.empty(classes, dtype=np.float32)
        cdf = np.empty(classes, dtype=np.float64)
        for s in range(steps):
            t = t0 + s
            v[res_ch:] = embed[prev[b]]
            skips[:] = 0.0
            for li in range(layers):
                pos = offsets[li] + t % dilations[li]
                v[:res_ch] = ring[pos, b]
                ring[pos, b] = v[res_ch:]
                z[:] = inputs[s, b, li]
                _matvec_add(w_cat[li], v, z)
                for h in range(half):
                    gated[h] = _tanh(z[h]) * (np.float32(0.5) + np.float32(0.5)
                                              * _tanh(np.float32(0.5) * z[half + h]))
                o[:] = b_out[li]
                _matvec_add(w_out[li], gated, o)
                for r in range(res_ch):
                    v[res_ch + r] = (v[res_ch + r] + o[r]) * SQRT_HALF
                for k in range(skip_ch):
                    skips[k] += o[res_ch + k]
            for k in range(skip_ch):
                skips[k] = max(skips[k], np.float32(0.0))
            h1[:] = head1_b
            _matvec_add(head1, skips, h1)
            for k in range(skip_ch):
                h1[k] = max(h1[k], np.float32(0.0))
            logits[:] = head2_b
            _matvec_add(head2, h1, logits)
            if keep_logits:
                logits_out[s, b] = logits
            if forced:
                nxt = teacher[s, b]
            else:  # inverse CDF of softmax(logits / T) at a uniform drawn in advance
                top = logits.max()
                total = 0.0
                for k in range(classes):
                    total += np.exp(np.float64(logits[k] - top) * inv_temp)
                    cdf[k] = total
                target = uniforms[s, b] * total
                nxt = classes - 1
                for k in range(classes):
                    if cdf[k] > target:
                        nxt = k
                        break
            out[s, b] = nxt
            prev[b] = nxt


class Stream:
    """Incremental generation for B streams: feed per-sample layer inputs chunk by chunk."""

    def __init__(self, net: WaveNet, batch: int, weights: Weights | None = None) -> None:
        self.w = weights or Weights.of(net)
        self.batch = batch
        self.ring = np.zeros((int(self.w.dilations.sum()), batch, self.w.embed.shape[1]),
                             dtype=np.float32)
        self.prev = np.full(batch, net.cfg.n_classes // 2, dtype=np.int64)
        self.t = 0

    def run(self, inputs: np.ndarray, uniforms: np.ndarray | None = None,
            temperature: float = 1.0, teacher: np.ndarray | None = None,
            keep_logits: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        steps = inputs.shape[0]
        w = self.w
        out = np.empty((steps, self.batch), dtype=np.int64)
        logits = np.empty((steps if keep_logits else 0, self.batch, w.head2.shape[1]),
                          dtype=np.float32)
        _steps(w.w_cat, w.w_out, w.b_out, w.head1, w.head1_b, w.head2, w.head2_b,
               w.embed, w.dilations, w.offsets, inputs, self.t, self.ring, self.prev,
               np.zeros((steps, self.batch)) if uniforms is None else uniforms,
               1.0 / max(temperature, 1e-5),
               np.zeros((0, self.batch), dtype=np.int64) if teacher is None else teacher,
               out, logits)
        self.t += steps
        return out, (logits if keep_logits else None)


@dataclass(frozen=True)
class Folding:
    folds: int
    length: int  # samples of the utterance
    fold: int  # samples each fold owns
    overlap: int  # warm-up samples before each fold (half of them crossfaded)

    @classmethod
    def plan(cls, length: int, folds: int, overlap: int) -> Folding:
        folds = max(1, min(folds, length // max(4 * overlap, 1)))  # short: fewer folds
        return cls(folds, length, -(-length // folds), overlap if folds > 1 else 0)

    @property
    def steps(self) -> int:
        return self.overlap + self.fold

    def window(self, i: int) -> tuple[int, int]:
        """[start, end) of fold i's conditioning, warm-up included (may run off the ends)."""
        return i * self.fold - self.overlap, (i + 1) * self.fold


def _fold_conditioning(c: torch.Tensor, plan: Folding) -> torch.Tensor:
    """(1, C, T) -> (folds, C, steps): each fold's window, edges padded with the end values."""
    idx = torch.stack([torch.arange(*plan.window(i)) for i in range(plan.folds)])
    return c[0][:, idx.clamp(0, plan.length - 1)].transpose(0, 1).contiguous()


def _join(chunks: np.ndarray, plan: Folding, decode) -> np.ndarray:
    """Folds' waveforms (steps, folds) -> one waveform: each fold's second warm-up half is
    crossfaded with the end of the fold before it."""
    wav = decode(chunks)  # (steps, folds) float
    half = plan.overlap // 2
    out = np.zeros(plan.fold * plan.folds, dtype=np.float32)
    for i in range(plan.folds):
        start = i * plan.fold
        out[start:start + plan.fold] = wav[plan.overlap:, i]
        if i and half:
            ramp = np.linspace(0.0, 1.0, half + 2, dtype=np.float32)[1:-1]
            seg = slice(start - half, start)
            out[seg] = out[seg] * (1 - ramp) + wav[plan.overlap - half:plan.overlap, i] * ramp
    return out[:plan.length]


def stream(net: WaveNet, frames: torch.Tensor, g: torch.Tensor | None = None,
           temperature: float = 1.0, generator: torch.Generator | None = None,
           folds: int = 1, overlap: int = 800, chunk: int = 1600,
           decode=None) -> Iterator[np.ndarray]:
    """Waveform (float32) pieces of one utterance, in order, as they are generated.

    frames (1, C, N). ``folds`` > 1 generates that many pieces side by side (one per core
    is a good choice); the first piece streams as it is made, the others follow when all
    are done. ``folds=1`` gives exactly the samples of ``wavenet.generate`` with the same
    generator. ``decode`` maps classes to float samples (default: mu-law)."""
    from voiceadapt.audio import mu_law_decode

    decode = decode or (lambda c: mu_law_decode(torch.from_numpy(c), net.cfg.n_classes)
                        .numpy().astype(np.float32))
    if frames.shape[0] != 1:
        raise ValueError("stream() speaks one utterance; batch utterances as folds instead")
    length = frames.shape[-1] * net.cfg.hop_length
    plan = Folding.plan(length, folds, overlap)
    with torch.no_grad():
        c = _fold_conditioning(net.upsample_frames(frames, length), plan)
    g = g.expand(plan.folds, -1) if g is not None else None
    uniforms = draw_uniforms(plan.steps, plan.folds, generator).numpy()
    gen = Stream(net, plan.folds)
    classes = np.empty((plan.steps, plan.folds), dtype=np.int64)
    for lo in range(0, plan.steps, chunk):
        hi = min(lo + chunk, plan.steps)
        # the per-sample layer inputs are made a chunk at a time: (chunk, folds, L, G) floats
        classes[lo:hi], _ = gen.run(layer_inputs(net, c[..., lo:hi], g), uniforms[lo:hi],
                                    temperature)
        if plan.folds == 1:
            yield decode(classes[lo:hi, 0])
        elif hi > plan.overlap:  # the first fold is the start of the utterance
            first = max(lo, plan.overlap)
            end = min(hi, plan.steps if plan.folds == 1 else plan.overlap + plan.fold
                      - plan.overlap // 2)
            if end > first:
                yield decode(classes[first:end, 0])
    if plan.folds > 1:
        joined = _join(classes, plan, decode)
        yield joined[plan.fold - plan.overlap // 2:]


def generate_fast(net: WaveNet, frames: torch.Tensor, g: torch.Tensor | None = None,
                  temperature: float = 1.0, generator: torch.Generator | None = None,
                  folds: int = 1, overlap: int = 800) -> np.ndarray:
    """The whole waveform of one utterance (see ``stream``)."""
    return np.concatenate(list(stream(net, frames, g, temperature, generator, folds, overlap)))
