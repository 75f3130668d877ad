"""Train the backbone: one process, or several under ``torchrun`` (DDP; gloo on CPU, NCCL on GPU).

    python -m training.train --config configs/default.toml --run-dir runs/default
    torchrun --standalone --nproc_per_node=2 -m training.train --config ... --run-dir ...

The run folder holds ``config.toml``, ``git.txt``, ``metrics.jsonl``, TensorBoard logs in
``tb/``, and step-numbered checkpoints: ``step_0001000.safetensors`` (EMA weights, a
self-describing backbone that ``voiceadapt.load`` reads) and ``step_0001000.train.pt``
(raw weights, optimizer, EMA, step) written atomically, plus ``latest``. Running the
same command again resumes from the newest readable checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from training.config import DataConfig, RunConfig, load_config
from training.data import AcousticBatch, BatchSampler, Item, WaveNetBatch, load_corpus_items
from training.step import TrainStep
from voiceadapt.audio import FeatureParams, log_mel, pcm16_to_float
from voiceadapt.files import atomic_path, atomic_write_text
from voiceadapt.models.backbone import Backbone, BackboneConfig, NormStats
from voiceadapt.models.checkpoint import save as save_backbone
from voiceadapt.text.symbols import registered_table


def model_config(cfg: RunConfig, n_symbols: int, params: FeatureParams, languages: int = 0,
                 ) -> BackboneConfig:
    """The run's backbone: its size from ``backbone.MODEL_SIZES``, its speaker channels, a
    universal WaveNet (no g) when the run trains one, and ``languages`` language rows."""
    return BackboneConfig.sized(
        cfg.model.size, n_symbols, params.n_mels, params.hop_length, cfg.model.speaker_channels,
        wavenet_speaker_channels=0 if cfg.model.universal_vocoder else None,
        pitch_in_speaker=cfg.model.pitch_in_speaker, languages=languages)


def run_languages(cfg: RunConfig, items: list[Item]) -> list[str]:
    """The language embedding's rows: every transcript language of the run's data, sorted."""
    if not cfg.model.language_embedding:
        return []
    named = sorted({it.language for it in items})
    if not named or "" in named:
        raise ValueError("model.language_embedding needs every utterance's language: this "
                         "data does not name them all (a pack made before they were kept?)")
    return named


def with_languages(model: Backbone, languages: list[str]) -> Backbone:
    """``model`` with a language embedding over ``languages``, zero at first (so it speaks as
    before); a model that has one must have these very languages."""
    if model.languages:
        if model.languages != languages:
            raise ValueError(f"the model's languages {model.languages} are not this run's "
                             f"{languages}")
        return model
    acoustic = dataclasses.replace(model.cfg.acoustic, languages=len(languages))
    cfg = dataclasses.replace(model.cfg, acoustic=acoustic)
    out = Backbone(cfg, model.speakers, model.symbols, model.features, model.stats, languages)
    result = out.load_state_dict(model.state_dict(), strict=False)  # all but the new embedding
    if result.unexpected_keys or result.missing_keys != ["acoustic.language.weight"]:
        raise ValueError(f"the model does not fit its own config: {result}")
    out.extra = dict(model.extra)
    return out


def inherited_vocoder(cfg: RunConfig, model: Backbone) -> dict[str, str]:
    """{"vocoder": V} for a run's checkpoints when the vocoder its start recommends still
    holds, else {}: the run starts from a checkpoint (``model.init``, or ``model.warm_start``
    with the same WaveNet, which copies it whole) and leaves the WaveNet as it was (frozen, not
    replaced by a vocoder file, not made universal). A speaker-conditioned WaveNet's
    recommendation is kept only while nothing moves the g it hears (no acoustic training)."""
    from voiceadapt.models.checkpoint import read_metadata

    source = cfg.model.init or cfg.model.warm_start
    if not source or cfg.train.wavenet or cfg.model.vocoder_init or cfg.model.universal_vocoder:
        return {}
    meta = read_metadata(source)
    named = meta.get("extra", {}).get("vocoder")
    same_wavenet = BackboneConfig.from_dict(meta["config"]).wavenet == model.cfg.wavenet
    hears_moved_g = named == "wavenet" and model.cfg.wavenet.speaker_channels and cfg.train.acoustic
    if named is None or not same_wavenet or hears_moved_g:
        return {}
    return {"vocoder": str(named)}


def corpus_stats(items: list[Item], params: FeatureParams, limit: int = 200) -> NormStats:
    """Per-channel log-mel mean/std and voiced log-F0 mean/std over (up to) ``limit`` items."""
    chosen = items[:: max(1, len(items) // limit)][:limit]
    mels = torch.cat([log_mel(torch.from_numpy(pcm16_to_float(it.audio)), params)
                      for it in chosen], dim=-1)
    f0 = np.concatenate([it.f0[it.f0 > 0] for it in chosen])
    logf0 = np.log(f0) if len(f0) else np.array([4.8, 5.1])
    return NormStats(mel_mean=tuple(mels.mean(-1).tolist()),
                     mel_std=tuple(mels.std(-1).clamp(min=1e-3).tolist()),
                     logf0_mean=float(logf0.mean()), logf0_std=float(max(logf0.std(), 1e-3)))


def initial_weights(cfg: RunConfig, speakers: list[str], params: FeatureParams,
                    languages: list[str] | None = None) -> Backbone:
    """The ``model.init`` checkpoint, checked against this run's model size, speakers and
    features; its normalization statistics come with it (the weights depend on them). For a
    universal vocoder, a speaker WaveNet is made speaker-free; a vocoder-only run
    (``train.acoustic = false``) may train it on any corpus's speakers."""
    from training.vocoder import extract, install
    from voiceadapt.models.checkpoint import load

    model = load(cfg.model.init)
    if cfg.model.universal_vocoder and model.cfg.wavenet.speaker_channels:
        model = install(model, extract(model))
    if languages:
        model = with_languages(model, languages)
    elif model.languages:
        raise ValueError(f"{cfg.model.init} has a language embedding ({', '.join(model.languages)}): "
                         "set model.language_embedding = true")
    expected = model_config(cfg, len(model.symbols), params, len(languages or []))
    if model.cfg != expected:
        raise ValueError(f"{cfg.model.init} is not a model of size {cfg.model.size!r}")
    vocoder_only = cfg.model.universal_vocoder and not cfg.train.acoustic
    if model.speakers != speakers and not vocoder_only:
        raise ValueError(f"{cfg.model.init} was trained on other speakers than this corpus's")
    params.check_compatible(model.features)
    return model.train()


def git_hash() -> str:
    """The commit the code runs from, with "-dirty" when the checkout has changes (tracked
    or new files; corpora and runs are ignored): such a run's code is not that commit's."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                                  cwd=Path(__file__).parent).stdout.strip()

        return git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def find_resume_state(run: Path, log: Callable[[str], None]) -> dict[str, Any] | None:
    """Newest readable training state; corrupt newer files are skipped (and reported)."""
    for path in sorted(run.glob("step_*.train.pt"), reverse=True):
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a file cut short by a kill: fall back to an older one
            log(f"skipping unreadable checkpoint {path.name}: {type(exc).__name__}")
    return None


def prune_checkpoints(run: Path, keep: int, suffixes: tuple[str, ...]) -> None:
    """Keep the newest ``keep`` training states; each older one goes with its ``suffixes``
    files (the step's backbone, vocoder or LEO file)."""
    for old in sorted(run.glob("step_*.train.pt"))[:-keep]:
        old.unlink()
        for suffix in suffixes:
            old.with_name(old.name.replace(".train.pt", suffix)).unlink(missing_ok=True)


class Trainer:
    def __init__(self, cfg: RunConfig, run: Path, items: list[Item], speakers: list[str],
                 params: FeatureParams):
        self.cfg, self.run, self.params = cfg, run, params
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        want_cuda = cfg.train.device in ("auto", "cuda") and torch.cuda.is_available()
        if cfg.train.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("train.device is cuda but no GPU is visible")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{local}" if want_cuda else "cpu")
        if want_cuda:
            torch.cuda.set_device(self.device)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if want_cuda else "gloo")
        torch.manual_seed(cfg.train.seed)
        table = registered_table(cfg.model.symbols)
        resuming = any(run.glob("step_*.train.pt"))  # then the weights come from the run
        languages = run_languages(cfg, items)
        if cfg.model.init:
            self.model = initial_weights(cfg, speakers, params, languages).to(self.device)
        else:
            from voiceadapt.models.checkpoint import read_metadata

            # a warm start keeps its source's normalization: the copied weights depend on it
            stats = (NormStats.from_dict(read_metadata(cfg.model.warm_start)["stats"])
                     if cfg.model.warm_start else corpus_stats(items, params))
            self.model = Backbone(model_config(cfg, len(table), params, len(languages)), speakers,
                                  table, params, stats, languages)
            if (cfg.model.warm_start or cfg.model.encoder_init) and not resuming:
                from training.warm_start import warm_start

                warm_start(self.model, cfg.model.warm_start, cfg.model.encoder_init, items, self.log)
            self.model.to(self.device)
        # the ledger a saved vocoder file adds this run's updates to (read once)
        self.vocoder_ledger: dict[str, Any] = {}
        if cfg.model.vocoder_init:
            from training.vocoder import load_into, load_vocoder

            start = load_vocoder(cfg.model.vocoder_init)
            self.vocoder_ledger = start.extra
            if not resuming:
                load_into(self.model, start)
                self.log(f"WaveNet from {cfg.model.vocoder_init}")
        self.vocoder_note = inherited_vocoder(cfg, self.model)
        if cfg.model.pitch_in_speaker:  # the table's pitch channels are measured: never trained
            keep = torch.ones_like(self.model.speaker_table.weight)
            keep[:, -2:] = 0
            self.model.speaker_table.weight.register_hook(lambda grad: grad * keep)
        top = max((int(item.ids.max()) for item in items), default=0)
        if top >= len(self.model.symbols) and (cfg.train.acoustic or cfg.train.teacher_forced_share):
            raise ValueError(
                f"the corpus uses phoneme symbols beyond the model's table {self.model.symbols.version} "
                f"({len(self.model.symbols)} symbols): set model.symbols = \"ipa-2\" in the run config")
        if not cfg.train.wavenet:
            self.model.wavenet.requires_grad_(False)  # frozen: DDP and AdamW skip it
        if not cfg.train.acoustic:  # a vocoder run: only the WaveNet learns
            for name, p in self.model.named_parameters():
                p.requires_grad_(name.startswith("wavenet."))
        self.step_core = TrainStep(self.model, cfg.train.speaker_consistency,
                                   cfg.train.speaker_adversary).to(self.device)
        self.step_module: torch.nn.Module = self.step_core
        if self.world > 1:
            self.step_module = torch.nn.parallel.DistributedDataParallel(
                self.step_module, device_ids=[self.device.index] if want_cuda else None,
                find_unused_parameters=cfg.train.wavenet_extra_steps > 0)
        t = cfg.train
        self.started = 0.0  # set when fit() starts: the time budget counts training only
        self.time_progress = 0.0
        # the backbone's and the training-only speaker adversary's
        trainable = [p for p in self.step_core.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, self._lr_factor)
        self.ema = {k: v.detach().clone().float() for k, v in self.model.state_dict().items()}
        self.sampler = BatchSampler(items, params, seed=t.seed * 1000 + self.rank,
                                    wavenet_clean_only=t.wavenet_clean_only)
        self.step = 0
        # the WaveNet's own ledger over resumes: updates, samples, training seconds
        self.wavenet_updates = self.wavenet_samples = 0
        self.train_seconds = 0.0
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                         if want_cuda and t.bf16 else nullcontext())

    def _progress(self, step: int) -> float:
        return min(1.0, max(step / max(1, self.cfg.train.steps), self.time_progress))

    def _update_time_progress(self) -> None:
        """Share of the time budget used, the same on every rank (the slowest rank's view)."""
        t = self.cfg.train
        if t.max_minutes <= 0:
            return
        used = torch.tensor([(time.perf_counter() - self.started) / (60 * t.max_minutes)])
        if self.world > 1:
            dist.all_reduce(used, op=dist.ReduceOp.MAX)
        self.time_progress = float(used)

    def _lr_factor(self, step: int) -> float:
        t = self.cfg.train
        warm = min(1.0, (step + 1) / max(1, t.warmup_steps))
        progress = self._progress(step)
        return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    # -- checkpoints -------------------------------------------------------------------
    def resume(self) -> None:
        state = find_resume_state(self.run, self.log)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        if self.step_core.adversary is not None:  # the run's config is the same: it was saved
            self.step_core.adversary.load_state_dict(state["adversary"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.ema = {k: v.to(self.device) for k, v in state["ema"].items()}
        self.step = int(state["step"])
        self.wavenet_updates = int(state.get("wavenet_updates", 0))
        self.wavenet_samples = int(state.get("wavenet_samples", 0))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.sampler.rng = np.random.default_rng(state["rng_seed"] + self.rank)
        self.log(f"resumed from step {self.step}")

    def save(self) -> None:
        if self.rank != 0:
            return
        name = f"step_{self.step:07d}"
        ema_state = {k: v.to(self.model.state_dict()[k].dtype) for k, v in self.ema.items()}
        seconds = self.train_seconds + self._elapsed()
        save_backbone(self.model, self.run / f"{name}.safetensors", state=ema_state,
                      extra={"step": self.step, "weights": "ema", "git": git_hash(),
                             **self.vocoder_note})
        if not self.model.cfg.wavenet.speaker_channels:
            self._save_vocoder(self.run / f"{name}.vocoder.safetensors", ema_state, seconds)
        with atomic_path(self.run / f"{name}.train.pt") as tmp:
            torch.save({
                "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "ema": self.ema, "step": self.step,
                "rng_seed": int(self.sampler.rng.integers(2**31)),
                "wavenet_updates": self.wavenet_updates, "wavenet_samples": self.wavenet_samples,
                "train_seconds": seconds,
                **({"adversary": self.step_core.adversary.state_dict()}
                   if self.step_core.adversary is not None else {}),
            }, tmp)
        atomic_write_text(self.run / "latest", name + "\n")
        prune_checkpoints(self.run, self.cfg.train.keep_checkpoints,
                          (".safetensors", ".vocoder.safetensors"))

    def _elapsed(self) -> float:
        return time.perf_counter() - self.started if self.started else 0.0

    def _save_vocoder(self, path: Path, ema_state: dict[str, torch.Tensor], seconds: float) -> None:
        """The universal WaveNet's EMA weights as a vocoder file, with a ledger that adds this
        run's updates, samples and device minutes to those of the file it started from."""
        from training.vocoder import Vocoder, save_vocoder
        from voiceadapt.models.wavenet import WaveNet

        before = self.vocoder_ledger
        kind = "gpu_minutes" if self.device.type == "cuda" else "cpu_minutes"
        ledger = {
            "updates": int(before.get("updates", 0)) + self.wavenet_updates,
            "samples": int(before.get("samples", 0)) + self.wavenet_samples,
            "gpu_minutes": float(before.get("gpu_minutes", 0.0)),
            "cpu_minutes": float(before.get("cpu_minutes", 0.0)),
            "source": before.get("source", self.cfg.model.init or "scratch"),
            "git": git_hash(),
        }
        ledger[kind] = round(float(ledger[kind]) + self.world * seconds / 60, 2)
        net = WaveNet(self.model.cfg.wavenet)
        net.load_state_dict({k[len("wavenet."):]: v.float().cpu() for k, v in ema_state.items()
                             if k.startswith("wavenet.")})
        save_vocoder(Vocoder(net, self.model.features, self.model.stats, ledger), path)

    # -- training ----------------------------------------------------------------------
    def log(self, message: str) -> None:
        if self.rank == 0:
            tqdm.write(message)

    def _update(self, a: AcousticBatch | None, w: WaveNetBatch | None, use_encoder: bool,
                bin_weight: float) -> dict[str, torch.Tensor]:
        t = self.cfg.train
        self.step_module.train()
        with self.autocast:
            losses = self.step_module(a, w, use_encoder, bin_weight)
        self.opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.step_core.parameters(), t.grad_clip)
        self.opt.step()
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                if v.dtype.is_floating_point:
                    self.ema[k].mul_(t.ema_decay).add_(v.float(), alpha=1 - t.ema_decay)
                else:
                    self.ema[k].copy_(v)
        return losses

    def train_step(self) -> dict[str, float]:
        """One joint update, then ``wavenet_extra_steps`` WaveNet-only updates."""
        t = self.cfg.train
        a = self.sampler.acoustic(t.batch_size) if t.acoustic else None
        w = self._wavenet_batch() if t.wavenet else None
        use_encoder = bool(self.sampler.rng.random() < t.encoder_prob)
        bin_weight = 1.0 if self.step >= t.bin_loss_start else 0.0
        losses = self._update(a, w, use_encoder, bin_weight)
        for _ in range(t.wavenet_extra_steps):
            losses["wavenet"] = self._update(None, self._wavenet_batch(), False, 0.0)["wavenet"]
        if t.wavenet:
            updates = 1 + t.wavenet_extra_steps
            self.wavenet_updates += updates
            self.wavenet_samples += updates * t.wavenet_batch_size * t.wavenet_segment * self.world
        self.sched.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}

    def _wavenet_batch(self) -> WaveNetBatch:
        """Segments of recordings, or (``teacher_forced_share`` of the time) of utterances
        the acoustic model re-makes with their own alignment."""
        t = self.cfg.train
        if t.teacher_forced_share and self.sampler.rng.random() < t.teacher_forced_share:
            # in float32, as at synthesis (no autocast: a no-grad pass, cheap next to the step)
            return self.step_core.teacher_forced_batch(
                self.sampler.acoustic(t.wavenet_batch_size), t.wavenet_segment, self.sampler.rng)
        return self.sampler.wavenet(t.wavenet_batch_size, t.wavenet_segment)

    def fit(self) -> None:
        t = self.cfg.train
        writer = None
        if self.rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.run / "tb"))
        bar = tqdm(total=t.steps, initial=self.step, desc="train", disable=self.rank != 0,
                   dynamic_ncols=True)
        self.started = time.perf_counter()
        try:
            self._loop(writer, bar)
        except KeyboardInterrupt:  # SIGINT, or SIGTERM (see main): keep what was trained
            if self.world == 1:  # with several ranks another may be inside a collective
                self.log(f"stopped at step {self.step}: saving")
                self.save()
            raise
        finally:
            bar.close()
            if writer is not None:
                writer.close()

    def _loop(self, writer: Any, bar: Any) -> None:
        t = self.cfg.train
        samples = 0
        while self.step < t.steps:
            self._update_time_progress()
            if self.time_progress >= 1.0:
                self.log(f"time budget of {t.max_minutes} min reached at step {self.step}")
                self.save()
                break
            losses = self.train_step()
            samples += int(t.wavenet) * (t.wavenet_batch_size * t.wavenet_segment * self.world
                        * (1 + t.wavenet_extra_steps))
            bar.update(1)
            if self.step % t.log_every == 0 or self.step == t.steps:
                rate = samples / (time.perf_counter() - self.started)
                bar.set_postfix(loss=f"{losses['total']:.3f}", wn=f"{losses['wavenet']:.3f}")
                if writer is not None:
                    for k, v in losses.items():
                        writer.add_scalar(f"loss/{k}", v, self.step)
                    writer.add_scalar("wavenet_samples_per_s", rate, self.step)
                    with open(self.run / "metrics.jsonl", "a") as f:
                        f.write(json.dumps({"step": self.step, "time": time.time(),
                                            "wavenet_samples_per_s": rate, **losses}) + "\n")
            if self.step % t.checkpoint_every == 0 or self.step == t.steps:
                self.save()


def prepare_run(run: Path, config_path: str | None,
                loader: Callable[[str | Path], Any] = load_config) -> Any:
    """Create the run folder (config, git hash) or check an existing one's config (read by
    ``loader``: a backbone run's by default)."""
    run.mkdir(parents=True, exist_ok=True)
    stored = run / "config.toml"
    if config_path is None:
        if not stored.exists():
            raise FileNotFoundError(f"{run} has no config.toml; pass --config")
        return loader(stored)
    cfg = loader(config_path)
    if stored.exists():
        if loader(stored) != cfg:
            raise ValueError(f"{run} was started with another config ({stored}); use a new --run-dir")
    elif int(os.environ.get("RANK", "0")) == 0:
        atomic_write_text(stored, Path(config_path).read_text())
        atomic_write_text(run / "git.txt", git_hash() + "\n")
    return cfg


def load_items(data: DataConfig, params: FeatureParams) -> tuple[list[Item], list[str]]:
    """The training split's items: from a pack, or from a corpus and its feature cache."""
    if data.pack:
        from training.pack import read_pack

        return read_pack(data.pack, params)
    return load_corpus_items(data.corpus, data.cache, params, "train", data.max_frames)


def run_folder_arguments(doc: str, argv: list[str] | None) -> tuple[Path, str | None]:
    """The run folder and config path, as every trainer's command takes them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--config", help="TOML config (stored in the run folder on first use)")
    parser.add_argument("--run-dir", required=True, help="run folder; run again to resume")
    args = parser.parse_args(argv)
    return Path(args.run_dir), args.config


def interrupt_on_sigterm() -> None:
    """SIGTERM stops a run the way Ctrl-C does (KeyboardInterrupt), so it saves first."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    run, config = run_folder_arguments(__doc__, argv)
    cfg = prepare_run(run, config)
    params = FeatureParams()
    items, speakers = load_items(cfg.data, params)
    trainer = Trainer(cfg, run, items, speakers, params)
    trainer.log(f"{len(items)} utterances, {len(speakers)} speakers, "
                f"{sum(p.numel() for p in trainer.model.parameters()) / 1e6:.2f} M parameters, "
                f"{trainer.world} process(es) on {trainer.device}")
    trainer.resume()
    interrupt_on_sigterm()  # fit() saves before it stops
    try:
        trainer.fit()
    except KeyboardInterrupt:  # fit() saved what it had: say so, without a traceback
        trainer.log(f"stopped by a signal at step {trainer.step}, after saving")
        return 130
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
