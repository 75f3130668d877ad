"""Gradient-based adaptation: SEA-EMB, SEA-ALL and PATCH fit a voice on the generator's losses.

- SEA-EMB: a new embedding, initialized by SEA-ENC, optimized with every weight frozen
  (``FitConfig.mel_offset`` would add an output-bias delta afterwards: off by default).
- SEA-ALL: SEA-EMB first, then every weight and the embedding, with 10% of the reference audio
  held out as whole clips (more of a short reference: a whole clip can be a quarter of it or
  more; docs/adaptation_benchmark.md); the best held-out step is kept, stored as a float16
  weight delta.
- PATCH: like SEA-ALL but only normalization scales/biases and bias vectors (<= 5% of the
  parameters) and the embedding change; the patch's values are stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from voiceadapt.adapt.mel_offset import measure_mel_offset, with_mel_offset
from voiceadapt.adapt.profile import VoiceProfile, backbone_fingerprint
from voiceadapt.adapt.sea_enc import embedding_from_clips, load_references
from voiceadapt.audio import Audio, AudioLimits, f0
from voiceadapt.audio.io import AudioSource
from voiceadapt.models import alignment
from voiceadapt.models import losses as L
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.padding import pad_right
from voiceadapt.models.vocoders import resolve_vocoder
from voiceadapt.text import transcript
from voiceadapt.text.g2p import DEFAULT_LANGUAGE
from voiceadapt.text.symbols import WORD_BOUNDARY

PATCH_LIMIT = 0.05


class MissingTranscriptError(ValueError):
    """A mode that fits on the generator's losses was given a clip without its transcript."""


class Cancelled(Exception):
    """Adaptation was cancelled between steps."""


@dataclass(frozen=True)
class FitConfig:
    """How SEA-EMB, SEA-ALL and PATCH fit a voice: steps, learning rates, the held-out share
    that early stopping judges by, and what each step hears."""

    # per stage (SEA-ALL and PATCH run SEA-EMB's steps first)
    steps: int = 60
    lr_embedding: float = 0.02
    lr_weights: float = 2e-4
    # WaveNet samples per clip per step (the WaveNet dominates a step)
    segment: int = 1600
    # share of the reference audio held out for early stopping
    heldout_fraction: float = 0.1
    eval_every: int = 5
    seed: int = 0
    # audio per step: longer references are sampled, whole clips at a time, so a step costs
    # the same for 30 s or 5 min of reference
    batch_seconds: float = 12.0
    # fit through the WaveNet's loss too; None: when the model's recommended vocoder is the
    # WaveNet (a Griffin-Lim model only needs its acoustic model)
    wavenet: bool | None = None
    # the espeak-ng language the transcripts are written in (English text is normalized first)
    language: str = DEFAULT_LANGUAGE
    # SEA-EMB: weight of the mean squared distance of g from the encoder's estimate (speaker
    # embeddings of the bundled model sit about 0.18 apart by that measure)
    embedding_prior: float = 0.5
    # SEA-ALL/PATCH: the weight stage keeps its best held-out step from this step on
    min_steps: int = 10
    # early stopping's score adds this weight times the held-out voice distance: 1 - cos
    # between what the unadapted encoder hears in the predicted and in the recorded held-out
    # mels (the speaker-consistency loss; 1.0 weighs it as training's speaker_consistency
    # does). 0: the generator's losses alone, which follow the text and language more than
    # the voice. Judged once with 1.0 on the bundled model (2026-11-27): no gain, so off
    # (docs/adaptation_benchmark.md)
    heldout_voice: float = 0.0
    # SEA-ALL/PATCH: after early stopping has chosen the steps of both stages on the clips it
    # fits, fit again from the start on every clip (the held-out ones too) for those steps.
    # On 12 corpus v2 training speakers it lowered SEA-ALL's query loss (other clips of the
    # speaker, no judge) at 5 and 10 s for 11 and 9 of them, PATCH's only at 5 s, for about
    # twice the fit time (docs/refit.md); the one judged go/no-go, SEA-ALL on the two
    # leave-voice-out persons, said no (10 s: 0.660 against 0.686; 30 s: level), so off
    refit: bool = False
    # after the fit, add the voice's mel offset to the profile: the per-channel mean of
    # recorded minus teacher-forced predicted log-mel over every reference clip's speech frames
    # (voiceadapt.adapt.mel_offset), the output bias that best explains the voice's long-term
    # spectral colour, which a model that has heard only synthesizers has no embedding for.
    # Judged once on the bundled model (2026-11-28): it helped the synthetic leave-voice-out
    # voice and hurt the real person in every mode (similarity 0.622 -> 0.615, EER 19% -> 30%
    # over the two persons, the three modes' trials pooled), so off (docs/adaptation_benchmark.md)
    mel_offset: bool = False

    def __post_init__(self) -> None:
        if self.heldout_voice < 0:
            raise ValueError(f"heldout_voice must be >= 0, got {self.heldout_voice}")


@dataclass(frozen=True)
class Progress:
    """One step of a fit, as reported to ``progress`` callbacks (the service's job rows)."""

    mode: str
    stage: str  # "embedding" or "weights"; with FitConfig.refit, then "refit-embedding", "refit-weights"
    step: int
    steps: int
    loss: float
    heldout_loss: float | None = None


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


@dataclass(eq=False)
class Clip:
    """One transcribed reference clip, ready for the losses."""

    audio: Audio
    ids: torch.Tensor  # (N,) symbol ids with BOS/EOS
    f0: torch.Tensor  # (T,) Hz
    lang: int | None = None  # the transcript language's row, for a model with a language embedding


def prepare_clips(model: Backbone, clips: Sequence[AudioSource],
                  transcripts: Sequence[str | None], mode: str,
                  limits: AudioLimits | None = None, language: str = DEFAULT_LANGUAGE) -> list[Clip]:
    """Reference clips and what each says -> checked clips with their symbol ids and F0;
    MissingTranscriptError when a clip has no transcript."""
    if not clips:
        raise ValueError("give at least one reference clip")
    if len(transcripts) != len(clips) or any(not (t or "").strip() for t in transcripts):
        raise MissingTranscriptError(
            f"{mode} fits the voice on what was said: give a transcript for every clip "
            "(or use sea-enc, which needs none)")
    audios = load_references(clips, limits)
    lang = model.language_index(language) if model.languages else None
    out = []
    for audio, text in zip(audios, transcripts, strict=True):
        said = transcript(str(text), model.symbols, language)
        hz, _ = f0(audio.samples, model.features)
        out.append(Clip(audio, torch.tensor(said.ids), torch.from_numpy(hz), lang))
    return out


def clip_batch(clips: list[Clip]) -> dict[str, torch.Tensor]:
    """Prepared clips -> one right-padded batch (ids, text_lens, audio, lens, f0; lang when the
    clips carry their language's row)."""
    ids, text_lens = pad_right([c.ids for c in clips], torch.long)
    audio, lens = pad_right([c.audio.samples for c in clips], torch.float32)
    batch = {"ids": ids, "text_lens": text_lens, "audio": audio, "lens": lens,
             "f0": pad_right([c.f0 for c in clips], torch.float32)[0]}
    named = [c.lang is not None for c in clips]
    if any(named):
        if not all(named):
            raise ValueError("some clips name their language's row and some do not")
        batch["lang"] = torch.tensor([c.lang for c in clips])
    return batch


def uses_wavenet(model: Backbone, cfg: FitConfig) -> bool:
    """Whether the fit hears the WaveNet's loss (``FitConfig.wavenet``)."""
    return cfg.wavenet if cfg.wavenet is not None else resolve_vocoder(model, "auto") == "wavenet"


def sample_batch(clips: list[Clip], seconds: float, generator: torch.Generator,
                 ) -> dict[str, torch.Tensor]:
    """All clips if they fit in ``seconds``, else a random set of whole clips that does
    (at least one)."""
    if sum(c.audio.seconds for c in clips) <= seconds:
        return clip_batch(clips)
    order = torch.randperm(len(clips), generator=generator).tolist()
    chosen, total = [], 0.0
    for i in order:
        if chosen and total + clips[i].audio.seconds > seconds:
            continue
        chosen.append(clips[i])
        total += clips[i].audio.seconds
    return clip_batch(chosen)


def generator_loss(model: Backbone, batch: dict[str, torch.Tensor], g: torch.Tensor,
                   segment: int, generator: torch.Generator, wavenet: bool = True,
                   outputs: dict[str, torch.Tensor] | None = None, align_weight: float = 1.0,
                   ) -> torch.Tensor:
    """Acoustic (with alignment) + WaveNet losses of every clip under embedding g: (S,) for
    all the clips, or (B, S), one per clip; ``outputs`` receives the acoustic model's
    predicted and recorded mels, and ``align_weight`` 0 leaves the aligner's CTC loss out so
    the loss can be differentiated twice (:meth:`AcousticModel.forward`)."""
    b = batch["ids"].shape[0]
    gb = g[None].expand(b, -1) if g.dim() == 1 else g
    hop = model.features.hop_length
    losses = L.acoustic_losses(model, batch["ids"], batch["text_lens"], batch["audio"],
                               batch["lens"] // hop + 1, batch["f0"], gb, outputs=outputs,
                               lang=batch.get("lang"), align_weight=align_weight)
    if not wavenet:
        return losses["total"]
    segs, ctx = L.cut_segments(batch["audio"], batch["lens"], model.features, segment, generator)
    return losses["total"] + L.wavenet_loss(model, segs, ctx, gb)


def split_heldout(model: Backbone, clips: list[Clip], fraction: float,
                  ) -> tuple[list[Clip], list[Clip]]:
    """Hold out whole clips worth ``fraction`` of the audio, spread over the reference (every
    k-th clip from the end, k ~ 1 / fraction, so that one unusual clip does not decide);
    the first clip always stays in. One clip is split at the word boundary nearest its last
    ``fraction``, found with the acoustic model's own aligner."""
    if len(clips) > 1:
        total = sum(c.audio.seconds for c in clips)
        stride = max(2, round(1 / max(fraction, 1e-3)))
        spread = list(range(len(clips) - 1, 0, -stride))
        order = spread + [i for i in range(len(clips) - 1, 0, -1) if i not in spread]
        held_at: list[int] = []
        for i in order:
            if sum(clips[j].audio.seconds for j in held_at) >= fraction * total:
                break
            held_at.append(i)
        return ([c for i, c in enumerate(clips) if i not in held_at],
                [clips[i] for i in sorted(held_at)])
    return _split_one(model, clips[0], fraction)


@torch.no_grad()
def _split_one(model: Backbone, clip: Clip, fraction: float) -> tuple[list[Clip], list[Clip]]:
    batch = clip_batch([clip])
    mels, mask = L.encoder_input(model, batch["audio"], batch["lens"] // model.features.hop_length + 1)
    text_mask = torch.ones(1, len(clip.ids), dtype=torch.bool)
    logp = model.acoustic.aligner(model.acoustic.embed(clip.ids[None]).transpose(1, 2), mels,
                                  text_mask)
    frames = int(mask.sum())
    hard = alignment.hard_alignment(logp, torch.tensor([len(clip.ids)]), torch.tensor([frames]))
    starts = torch.cumsum(hard[0].sum(0), 0) - hard[0].sum(0)  # first frame of each token
    space = model.symbols.symbols.index(WORD_BOUNDARY)
    target = (1 - fraction) * frames
    candidates = [i for i, s in enumerate(clip.ids.tolist()) if s == space]
    if not candidates:
        raise ValueError("one clip of a single word cannot be split for early stopping; "
                         "give two clips or a longer one")
    cut = min(candidates, key=lambda i: abs(float(starts[i]) - target))
    frame = int(starts[cut])
    hop = model.features.hop_length
    bos, eos = clip.ids[:1], clip.ids[-1:]

    def part(ids: torch.Tensor, lo: int, hi: int) -> Clip:
        samples = clip.audio.samples[lo * hop : hi * hop]
        audio = Audio(samples=samples, rate=clip.audio.rate, original_rate=clip.audio.original_rate,
                      original_seconds=len(samples) / clip.audio.rate,
                      speech_seconds=len(samples) / clip.audio.rate)
        return Clip(audio, ids, clip.f0[lo:hi], clip.lang)

    head = part(torch.cat([clip.ids[:cut], eos]), 0, frame)
    tail = part(torch.cat([bos, clip.ids[cut + 1 :]]), frame, frames)
    return [head], [tail]


def _report(progress: ProgressFn | None, cancel: CancelFn | None, p: Progress) -> None:
    if progress is not None:
        progress(p)
    if cancel is not None and cancel():
        raise Cancelled(f"{p.mode} cancelled at {p.stage} step {p.step}")


def _held_loss(model: Backbone, held: dict[str, torch.Tensor], g: torch.Tensor, cfg: FitConfig,
               wavenet: bool, judge: Backbone | None = None) -> float:
    """Early stopping's score on the held-out batch: the generator's losses, with the same
    WaveNet segments every time, plus ``cfg.heldout_voice`` times the voice distance that
    ``judge``'s encoder (the unadapted backbone's; default ``model``'s) hears."""
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        loss = float(generator_loss(model, held, g, cfg.segment,
                                    torch.Generator().manual_seed(cfg.seed + 2), wavenet,
                                    outputs=out))
        if cfg.heldout_voice:
            encoder = (judge if judge is not None else model).encoder
            loss += cfg.heldout_voice * float(L.speaker_consistency_loss(
                encoder, out["mel_pred"], out["mel"], out["mel_mask"]))
    return loss


@dataclass(frozen=True)
class EmbeddingFit:
    g: torch.Tensor  # (S,) the kept embedding
    step: int  # the step kept by early stopping (0: the encoder's estimate)
    heldout_loss: float | None


def _fit_embedding(model: Backbone, clips: list[Clip], cfg: FitConfig, mode: str,
                   progress: ProgressFn | None, cancel: CancelFn | None,
                   held: list[Clip] | None = None, stage: str = "embedding") -> EmbeddingFit:
    """Fit g on ``clips`` from the encoder's estimate on them, pulled toward it by
    ``cfg.embedding_prior``; with ``held`` clips, keep the step whose held-out loss is lowest.
    Step 0 (the estimate, which has not heard the held-out clips either) is a candidate."""
    start = embedding_from_clips(model, [c.audio for c in clips])
    g = nn.Parameter(start.clone())
    opt = torch.optim.Adam([g], lr=cfg.lr_embedding)
    gen = torch.Generator().manual_seed(cfg.seed)
    wavenet = uses_wavenet(model, cfg)
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        held_batch = clip_batch(held) if held else None
        best = _held_loss(model, held_batch, start, cfg, wavenet) if held_batch else None
        best_g, best_step = start.clone(), 0
        for step in range(1, cfg.steps + 1):
            batch = sample_batch(clips, cfg.batch_seconds, gen)
            loss = generator_loss(model, batch, g, cfg.segment, gen, wavenet)
            loss = loss + cfg.embedding_prior * ((g - start) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            h = None
            if held_batch and (step % cfg.eval_every == 0 or step == cfg.steps):
                h = _held_loss(model, held_batch, g.detach(), cfg, wavenet)
                if best is not None and h < best:
                    best, best_g, best_step = h, g.detach().clone(), step
            _report(progress, cancel, Progress(mode, stage, step, cfg.steps, loss.item(), h))
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
    if not held:
        return EmbeddingFit(g.detach(), cfg.steps, None)
    return EmbeddingFit(best_g, best_step, best)


def split_for_early_stopping(model: Backbone, clips: list[Clip], fraction: float,
                             ) -> tuple[list[Clip], list[Clip] | None]:
    """(clips to fit on, held-out clips), or (all clips, None) when nothing can be held out
    (a single clip of a single word)."""
    try:
        return split_heldout(model, clips, fraction)
    except ValueError:
        return clips, None


def adapt_sea_emb(model: Backbone, clips: Sequence[AudioSource], transcripts: Sequence[str | None],
                  cfg: FitConfig | None = None, name: str = "", progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, limits: AudioLimits | None = None) -> VoiceProfile:
    """SEA-EMB: fit the speaker embedding to transcribed reference clips, starting from
    SEA-ENC's estimate and pulled toward it, the backbone unchanged (unless
    ``cfg.mel_offset``); early stopping on held-out
    audio keeps the best step (step 0, the estimate itself, included)."""
    cfg = cfg or FitConfig()
    prepared = prepare_clips(model, clips, transcripts, "sea-emb", limits, cfg.language)
    train, held = split_for_early_stopping(model, prepared, cfg.heldout_fraction)
    fit = _fit_embedding(model, train, cfg, "sea-emb", progress, cancel, held)
    g = fit.g
    if held and fit.step == 0:  # no step beat the estimate: SEA-ENC's, from every clip
        g = embedding_from_clips(model, [c.audio for c in prepared])
    profile = VoiceProfile(mode="sea-emb", embedding=g, backbone=backbone_fingerprint(model),
                           seconds=_seconds(prepared), steps=fit.step,
                           heldout_loss=None if fit.heldout_loss is None
                           else round(fit.heldout_loss, 5), name=name)
    return _finish(model, profile, prepared, cfg)


def _finish(model: Backbone, profile: VoiceProfile, clips: list[Clip], cfg: FitConfig,
            ) -> VoiceProfile:
    """The fitted profile, with the voice's mel offset measured on every clip when
    ``cfg.mel_offset`` asks for it."""
    if not cfg.mel_offset:
        return profile
    fitted = apply_profile(model, profile)
    return with_mel_offset(profile, measure_mel_offset(fitted, clips, profile.embedding))


def patch_parameter_names(model: Backbone) -> list[str]:
    """Normalization scales/biases and bias vectors: the PATCH mode's parameters."""
    names = []
    for module_name, module in model.named_modules():
        for pname, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{pname}" if module_name else pname
            if isinstance(module, nn.LayerNorm | nn.GroupNorm) or pname == "bias":
                names.append(full)
    return names


def _trainable_copy(model: Backbone, mode: str, wavenet: bool,
                    ) -> tuple[Backbone, dict[str, nn.Parameter]]:
    """A copy of the backbone whose mode's parameters (PATCH's norms and biases, or all; not
    the WaveNet's when its loss is off) alone require gradients, and those parameters."""
    work = copy.deepcopy(model).eval()  # no dropout: early stopping guards a few seconds of audio
    trainable = dict(work.named_parameters())
    if mode == "patch":
        names = set(patch_parameter_names(work))
        share = sum(trainable[n].numel() for n in names) / sum(p.numel() for p in work.parameters())
        assert share <= PATCH_LIMIT, f"patch is {share:.1%} of the parameters"
        trainable = {n: p for n, p in trainable.items() if n in names}
    if not wavenet:  # nothing to learn there without its loss, and no delta to store
        trainable = {n: p for n, p in trainable.items() if not n.startswith("wavenet.")}
    for n, p in work.named_parameters():
        p.requires_grad_(n in trainable)
    return work, trainable


def _weight_stage(work: Backbone, trainable: dict[str, nn.Parameter], g0: torch.Tensor,
                  clips: list[Clip], cfg: FitConfig, steps: int, mode: str, stage: str,
                  wavenet: bool, progress: ProgressFn | None, cancel: CancelFn | None,
                  held_loss: Callable[[torch.Tensor], float] | None = None,
                  ) -> tuple[dict[str, torch.Tensor], torch.Tensor, int, float | None]:
    """``steps`` Adam steps on the trainable weights and g -> (weights, g, step, held-out
    loss) of the best held-out step from ``cfg.min_steps`` on, or of the last step when no
    ``held_loss`` judges."""
    g = nn.Parameter(g0.clone())
    opt = torch.optim.Adam([{"params": list(trainable.values()), "lr": cfg.lr_weights},
                            {"params": [g], "lr": cfg.lr_embedding}])
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    # a fit must move: the best step is chosen from ``min_steps`` on (step 0 is SEA-EMB's)
    min_steps = min(cfg.min_steps, steps)
    best = float("inf") if min_steps > 0 or held_loss is None else held_loss(g.detach())
    best_state = {n: p.detach().clone() for n, p in trainable.items()}
    best_g, best_step = g.detach().clone(), 0
    for step in range(1, steps + 1):
        loss = generator_loss(work, sample_batch(clips, cfg.batch_seconds, gen), g, cfg.segment,
                              gen, wavenet)
        opt.zero_grad()
        loss.backward()
        opt.step()
        h = None
        if held_loss is not None and (step % cfg.eval_every == 0 or step == steps):
            h = held_loss(g.detach())
            if h < best and step >= min_steps:
                best, best_step = h, step
                best_state = {n: p.detach().clone() for n, p in trainable.items()}
                best_g = g.detach().clone()
        _report(progress, cancel, Progress(mode, stage, step, steps, loss.item(), h))
    if held_loss is None:
        return {n: p.detach().clone() for n, p in trainable.items()}, g.detach().clone(), steps, None
    return best_state, best_g, best_step, best


def _adapt_weights(model: Backbone, clips: Sequence[AudioSource], transcripts: Sequence[str | None],
                   mode: str, cfg: FitConfig | None, name: str, progress: ProgressFn | None,
                   cancel: CancelFn | None, limits: AudioLimits | None) -> VoiceProfile:
    cfg = cfg or FitConfig()
    prepared = prepare_clips(model, clips, transcripts, mode, limits, cfg.language)
    train, held = split_heldout(model, prepared, cfg.heldout_fraction)
    embedding_fit = _fit_embedding(model, train, cfg, mode, progress, cancel, held)
    wavenet = uses_wavenet(model, cfg)
    work, trainable = _trainable_copy(model, mode, wavenet)
    held_batch = clip_batch(held)

    # the voice judged by the unadapted backbone's encoder (no fit's loss reaches the encoder
    # today; this keeps the judge fixed if one ever does)
    def held_loss(g: torch.Tensor) -> float:
        return _held_loss(work, held_batch, g, cfg, wavenet, judge=model)

    state, g, step, best = _weight_stage(work, trainable, embedding_fit.g, train, cfg, cfg.steps,
                                         mode, "weights", wavenet, progress, cancel, held_loss)
    assert best is not None
    heldout: float | None = best
    if cfg.refit:  # the same numbers of steps again, on every clip, the held-out ones included
        refit = _fit_embedding(model, prepared, replace(cfg, steps=embedding_fit.step), mode,
                               progress, cancel, stage="refit-embedding")
        refit_work, refit_trainable = _trainable_copy(model, mode, wavenet)
        state, g, _, _ = _weight_stage(refit_work, refit_trainable, refit.g, prepared, cfg, step,
                                       mode, "refit-weights", wavenet, progress, cancel)
        heldout = None  # these weights have heard the held-out clips: no held-out score
    original = dict(model.named_parameters())
    if mode == "patch":
        tensors = {f"patch.{n}": v for n, v in state.items()}
    else:
        tensors = {f"delta.{n}": (v - original[n].detach()).half() for n, v in state.items()}
    profile = VoiceProfile(mode=mode, embedding=g, backbone=backbone_fingerprint(model),
                           seconds=_seconds(prepared), steps=embedding_fit.step + step,
                           heldout_loss=None if heldout is None else round(heldout, 5),
                           name=name, tensors=tensors)
    return _finish(model, profile, prepared, cfg)


def adapt_sea_all(model: Backbone, clips: Sequence[AudioSource], transcripts: Sequence[str | None],
                  cfg: FitConfig | None = None, name: str = "", progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, limits: AudioLimits | None = None) -> VoiceProfile:
    """SEA-ALL: SEA-EMB first, then every weight fine-tuned with the embedding; the profile
    stores the best held-out step's weight delta (float16) beside the embedding (with
    ``FitConfig.refit``, the delta of the same steps fitted again on every clip)."""
    return _adapt_weights(model, clips, transcripts, "sea-all", cfg, name, progress, cancel, limits)


def adapt_patch(model: Backbone, clips: Sequence[AudioSource], transcripts: Sequence[str | None],
                cfg: FitConfig | None = None, name: str = "", progress: ProgressFn | None = None,
                cancel: CancelFn | None = None, limits: AudioLimits | None = None) -> VoiceProfile:
    """PATCH: SEA-EMB first, then only the norms and biases (``patch_parameter_names``, a few
    percent of the weights) fine-tuned; the profile stores the best held-out step's patch (with
    ``FitConfig.refit``, the patch of the same steps fitted again on every clip)."""
    return _adapt_weights(model, clips, transcripts, "patch", cfg, name, progress, cancel, limits)


def apply_profile(model: Backbone, profile: VoiceProfile) -> Backbone:
    """The backbone with a profile's patch or weight delta applied (a copy; the input is kept)."""
    if not profile.tensors:
        return model
    patched = copy.deepcopy(model)
    params = dict(patched.named_parameters())
    with torch.no_grad():
        for key, value in profile.tensors.items():
            kind, _, pname = key.partition(".")
            if pname not in params:
                raise ValueError(f"the profile changes {pname!r}, which this backbone lacks")
            if kind == "delta":
                params[pname].add_(value.to(params[pname]))  # its dtype and device
            elif kind == "patch":
                params[pname].copy_(value)
            else:
                raise ValueError(f"unknown profile tensor {key!r}")
    return patched.eval()


def _seconds(clips: list[Clip]) -> float:
    return round(float(np.sum([c.audio.seconds for c in clips])), 3)
