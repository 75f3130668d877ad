"""Training configuration: a TOML file validated into typed dataclasses.

Unknown keys and wrong types are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceadapt.adapt.fit import FitConfig


@dataclass(frozen=True)
class DataConfig:
    corpus: str = "data/corpus"
    cache: str = "data/cache"
    pack: str = ""  # a packed-features file (see training/pack.py); used instead of corpus+cache
    max_frames: int = 600  # utterances longer than this are skipped (about 7.5 s)


@dataclass(frozen=True)
class ModelConfig:
    size: str = "default"  # "default" or "compact"
    speaker_channels: int = 64
    init: str = ""  # start from this backbone checkpoint's weights (same size and speakers)
    # phoneme symbol table of a model made from scratch (voiceadapt/text/symbols.py); en-ipa-1
    # reproduces the bundled model, ipa-2 covers corpus v2's languages
    symbols: str = "en-ipa-1"
    # a model made from scratch may start from an older backbone with other speakers and a
    # smaller symbol table (training/warm_start.py) and from an encoder trained on episodes
    warm_start: str = ""
    encoder_init: str = ""
    pitch_in_speaker: bool = False  # the voice's measured log-F0 mean/spread in g's last 2 channels
    # a language embedding over the corpus's transcript languages, added to every token (a
    # model.init without one gains it at zero: it speaks as before until trained)
    language_embedding: bool = False
    # a WaveNet conditioned on the mels alone (speaker_channels 0), which serves any acoustic
    # model and voice (training/vocoder.py); a speaker WaveNet from model.init is made
    # speaker-free at the table's mean voice
    universal_vocoder: bool = False
    vocoder_init: str = ""  # start the (universal) WaveNet from this vocoder file


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20_000
    # > 0: stop (and save) after this much wall time; the LR schedule then follows whichever
    # of steps or time is further along
    max_minutes: float = 0.0
    batch_size: int = 16
    wavenet_batch_size: int = 16
    wavenet_segment: int = 8000  # samples per WaveNet training segment
    # WaveNet segments only from utterances heard as recorded, not through a simulated channel
    # (codec, telephone band, room noise): a vocoder should not learn to make that noise
    wavenet_clean_only: bool = True
    # false: train everything but the WaveNet (acoustic model, aligner, encoder, table), e.g.
    # to sharpen the acoustic model cheaply on CPUs
    wavenet: bool = True
    # false: WaveNet-only updates, everything else frozen (a vocoder run; needs model.init,
    # the acoustic model the vocoder will serve)
    acoustic: bool = True
    # share of WaveNet updates that hear the acoustic model's ground-truth-aligned mels
    # (SEA-ENC's g) instead of the recordings' own
    teacher_forced_share: float = 0.0
    # WaveNet-only updates after each joint step (the WaveNet needs many more updates than
    # the acoustic model, and its steps are cheap)
    wavenet_extra_steps: int = 0
    lr: float = 1e-3
    weight_decay: float = 1e-6
    grad_clip: float = 1.0
    warmup_steps: int = 500
    ema_decay: float = 0.999
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50
    seed: int = 0
    encoder_prob: float = 0.5  # share of batches that condition on the encoder's g
    # weights of training/speaker_losses.py (0: off): the encoder hears the voice in the
    # predicted mel (YourTTS), and a speaker classifier behind gradient reversal on the
    # text encodings (Zhang et al. 2019)
    speaker_consistency: float = 0.0
    speaker_adversary: float = 0.0
    bin_loss_start: int = 1000  # step from which the alignment binarization loss is on
    device: str = "auto"  # auto, cpu, cuda
    bf16: bool = True  # autocast on CUDA
    num_workers: int = 0


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _check_type(name: str, value: Any, annotation: str) -> Any:
    expected = _TYPES[annotation]  # every setting is a plain scalar
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ValueError(f"{name} must be {getattr(expected, '__name__', expected)}, got {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown setting(s) in [{where}]: {', '.join(sorted(unknown))}")
    values = {}
    for key, value in data.items():
        values[key] = _check_type(f"{where}.{key}", value, str(known[key].type))
    return cls(**values)


def _sections(data: dict[str, Any], run_cls: type) -> Any:
    """A run config from its TOML tables: one section per field of ``run_cls`` (each built
    and type-checked by ``_build``); an unknown table is an error."""
    sections = {f.name: f.default_factory for f in dataclasses.fields(run_cls)}
    unknown = set(data) - set(sections)
    if unknown:
        raise ValueError(f"unknown section(s): {', '.join(sorted(unknown))}")
    return run_cls(**{name: _build(cls, data.get(name, {}), name)  # type: ignore[misc]
                      for name, cls in sections.items()})


def from_dict(data: dict[str, Any]) -> RunConfig:
    cfg: RunConfig = _sections(data, RunConfig)
    if not cfg.train.wavenet and cfg.train.wavenet_extra_steps:
        raise ValueError("train.wavenet_extra_steps needs train.wavenet = true")
    if not cfg.train.acoustic and not (cfg.train.wavenet and cfg.model.init):
        raise ValueError("train.acoustic = false trains the WaveNet alone: it needs "
                         "train.wavenet = true and model.init (the acoustic model it serves)")
    if (cfg.train.speaker_consistency or cfg.train.speaker_adversary) and not cfg.train.acoustic:
        raise ValueError("train.speaker_consistency and train.speaker_adversary are acoustic "
                         "losses: a vocoder run (train.acoustic = false) cannot use them")
    if min(cfg.train.speaker_consistency, cfg.train.speaker_adversary) < 0:
        raise ValueError("train.speaker_consistency and train.speaker_adversary must be >= 0")
    if not 0.0 <= cfg.train.teacher_forced_share <= 1.0:
        raise ValueError("train.teacher_forced_share must be between 0 and 1")
    if cfg.model.vocoder_init and not cfg.model.universal_vocoder:
        raise ValueError("model.vocoder_init needs model.universal_vocoder = true")
    return cfg


def load_config(path: str | Path) -> RunConfig:
    with open(path, "rb") as f:
        return from_dict(tomllib.load(f))


# -- meta-learning on speaker tasks (training/meta_speakers.py) ------------------------------
META_METHODS = ("reptile", "fomaml", "maml", "leap", "leo", "joint")
META_ADAPTS = ("patch", "all", "embedding")


@dataclass(frozen=True)
class MetaConfig:
    """A meta-learned start for the adaptation modes: a task is one speaker, its support a few
    seconds of its clips, its query other clips of the same speaker."""

    # reptile (Nichol et al. 2018), fomaml (first-order MAML), maml (second order: plain
    # gradient steps, differentiated through), leap (Flennerhag et al. 2019:
    # a start that shortens the inner loop's whole path), leo (Rusu et al. 2019), or joint:
    # the control, Adam on the same parameters at the tasks' own loss, no inner loop
    method: str = "reptile"
    # the parameters the inner loop adapts: "patch" (PATCH's norms and biases) or "all" (every
    # weight SEA-ALL fine-tunes), whose start Reptile/FOMAML meta-learn; "embedding" for LEO,
    # which meta-learns a latent space of g (SEA-EMB's parameter) and fits the latent code
    adapt: str = "patch"
    init: str = ""  # backbone checkpoint to start from; "" is the bundled model
    meta_steps: int = 300
    tasks_per_step: int = 4
    # the inner loop, modelled on PATCH's / SEA-ALL's weight stage (voiceadapt/adapt/fit.py;
    # the differences are in training/meta_speakers.py): Adam on the adapted weights and g
    # from SEA-ENC's estimate, at the product's learning rates
    inner_steps: int = 8
    lr_weights: float = FitConfig.lr_weights
    lr_embedding: float = FitConfig.lr_embedding
    # maml: the inner loop's plain gradient steps (Finn et al.'s) on the adapted weights and
    # on g, sized so that the first moves each as far, in RMS, as the product's first Adam
    # step at lr_weights / lr_embedding does (configs/meta_maml_patch.toml says how)
    maml_lr_weights: float = 0.06
    maml_lr_embedding: float = 0.8
    # maml: keep the aligner's forward-sum (CTC) term in the inner steps, as the product's fit
    # has it, through a twice-differentiable recursion (about 4x slower than F.ctc_loss, whose
    # backward PyTorch cannot differentiate); false leaves it out of the inner steps only
    maml_inner_align: bool = False
    # reptile: the share of the way to the tasks' mean adapted weights, annealed linearly to 0
    # (Nichol et al.); fomaml, maml, leap, leo, joint: Adam's learning rate
    outer_lr: float = 1.0
    # LEO: the latent code's size and the inner loop's plain gradient step on it (LEO's 1.0)
    latent: int = 16
    latent_lr: float = 1.0
    support_seconds: float = 8.0  # whole clips up to this much audio (at least one)
    query_clips: int = 2
    max_minutes: float = 0.0  # > 0: stop (and save) after this much wall time
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    log_every: int = 5
    seed: int = 0
    threads: int = 0  # torch threads (0: torch's default)


@dataclass(frozen=True)
class MetaRunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def meta_from_dict(data: dict[str, Any]) -> MetaRunConfig:
    cfg: MetaRunConfig = _sections(data, MetaRunConfig)
    m = cfg.meta
    if m.method not in META_METHODS:
        raise ValueError(f"meta.method must be one of {', '.join(META_METHODS)}, got {m.method!r}")
    if m.adapt not in META_ADAPTS:
        raise ValueError(f"meta.adapt must be one of {', '.join(META_ADAPTS)}, got {m.adapt!r}")
    if (m.method == "leo") != (m.adapt == "embedding"):
        raise ValueError('meta.method = "leo" and meta.adapt = "embedding" go together: LEO '
                         "fits a latent code of g; Reptile, MAML, FOMAML, Leap and joint train weights")
    if min(m.meta_steps, m.tasks_per_step, m.inner_steps, m.query_clips, m.latent) < 1:
        raise ValueError("meta.meta_steps, tasks_per_step, inner_steps, query_clips and latent "
                         "must be >= 1")
    if m.maml_inner_align and m.method != "maml":
        raise ValueError('meta.maml_inner_align is for method = "maml": the other methods\' inner '
                         "loops keep the aligner's loss already")
    if min(m.lr_weights, m.lr_embedding, m.outer_lr, m.latent_lr, m.support_seconds,
           m.maml_lr_weights, m.maml_lr_embedding) <= 0:
        raise ValueError("meta learning rates and support_seconds must be > 0")
    return cfg


def load_meta_config(path: str | Path) -> MetaRunConfig:
    with open(path, "rb") as f:
        return meta_from_dict(tomllib.load(f))


# -- adding corpus speakers one after another (training/continual_speakers.py) ---------------
CONTINUAL_METHODS = ("sgd", "er", "mer", "mole")


@dataclass(frozen=True)
class ContinualConfig:
    """A stream of corpus speakers (never users' voices) added to a backbone one after another:
    each speaker's clips arrive in its turn; forgetting is measured on the first speakers
    after the last."""

    # sgd: plain sequential fine-tuning; er: the new clip with replayed ones (experience
    # replay); mer: Riemer et al. 2019; mole: Nagabandi et al. 2019, a mixture of patches
    method: str = "mer"
    adapt: str = "patch"  # the shared parameters: PATCH's norms and biases, or "all"
    init: str = ""  # backbone checkpoint to start from; "" is the bundled model
    speakers: int = 10  # drawn from the corpus's training speakers, each of a different person
    train_clips: int = 6  # each speaker's clips in the stream
    test_clips: int = 2  # other clips of the same speaker, never trained on
    repeats: int = 2  # how often each training clip arrives, in its speaker's turn
    # Adam on the shared weights and on each speaker's own g (from SEA-ENC's estimate) at the
    # product's rates, the optimizer state kept across the stream
    lr_weights: float = FitConfig.lr_weights
    lr_embedding: float = FitConfig.lr_embedding
    memory: int = 24  # er, mer: reservoir of clips
    batch: int = 4  # er, mer: the new clip and batch - 1 replayed
    batches: int = 2  # mer: batches per arriving clip
    # mer: the within-batch and across-batch Reptile steps (the toolkit's toy-tuned values;
    # beta = 1 keeps each batch's steps whole, so only the pull back across the batches acts)
    beta: float = 1.0
    gamma: float = 0.3
    alpha: float = 1.0  # mole: CRP concentration
    temperature: float = 0.05  # mole: log-likelihood = -(generator loss) / temperature
    seed: int = 0
    threads: int = 0  # torch threads (0: torch's default)


@dataclass(frozen=True)
class ContinualRunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    continual: ContinualConfig = field(default_factory=ContinualConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def continual_from_dict(data: dict[str, Any]) -> ContinualRunConfig:
    cfg: ContinualRunConfig = _sections(data, ContinualRunConfig)
    c = cfg.continual
    if c.method not in CONTINUAL_METHODS:
        raise ValueError(f"continual.method must be one of {', '.join(CONTINUAL_METHODS)}, "
                         f"got {c.method!r}")
    if c.adapt not in ("patch", "all"):
        raise ValueError(f'continual.adapt must be "patch" or "all", got {c.adapt!r}')
    if min(c.speakers, c.train_clips, c.test_clips, c.repeats, c.memory, c.batch, c.batches) < 1:
        raise ValueError("continual.speakers, train_clips, test_clips, repeats, memory, batch and "
                         "batches must be >= 1")
    if c.speakers < 2:
        raise ValueError("continual.speakers must be >= 2: forgetting needs a later speaker")
    if min(c.lr_weights, c.lr_embedding, c.alpha, c.temperature) <= 0:
        raise ValueError("continual learning rates, alpha and temperature must be > 0")
    if not (0 < c.beta <= 1 and 0 < c.gamma <= 1):
        raise ValueError("continual.beta and gamma must be in (0, 1]: shares of the way back "
                         "from where a batch (beta) or a clip (gamma) started")
    return cfg


def load_continual_config(path: str | Path) -> ContinualRunConfig:
    with open(path, "rb") as f:
        return continual_from_dict(tomllib.load(f))
