"""The backbone: speaker table, acoustic model, WaveNet and SEA-ENC encoder in one module,
with everything needed to rebuild it (configs, symbols, feature parameters, statistics)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from voiceadapt.audio import FeatureParams
from voiceadapt.models.acoustic import AcousticConfig, AcousticModel
from voiceadapt.models.encoder import EncoderConfig, SpeakerEncoder
from voiceadapt.models.wavenet import WaveNet, WaveNetConfig
from voiceadapt.text import SymbolTable


@dataclass(frozen=True)
class BackboneConfig:
    """The three networks' configs, checked to fit together; sizes from ``MODEL_SIZES``."""

    acoustic: AcousticConfig
    wavenet: WaveNetConfig
    encoder: EncoderConfig

    def __post_init__(self) -> None:
        # the WaveNet may be universal (speaker_channels = 0): conditioned on the mels alone
        sizes = {self.acoustic.speaker_channels, self.encoder.speaker_channels,
                 self.wavenet.speaker_channels or self.acoustic.speaker_channels}
        if len(sizes) != 1:
            raise ValueError(f"speaker_channels differ between the networks: {sorted(sizes)}")
        if not (self.acoustic.n_mels == self.wavenet.cond_channels == self.encoder.n_mels):
            raise ValueError("n_mels differs between the networks")

    @property
    def speaker_channels(self) -> int:
        return self.acoustic.speaker_channels

    def to_dict(self) -> dict[str, dict[str, object]]:
        acoustic = asdict(self.acoustic)
        if not acoustic["languages"]:  # a model without languages is stored (and fingerprinted)
            del acoustic["languages"]  # as before they existed: its voices stay valid
        return {"acoustic": acoustic, "wavenet": asdict(self.wavenet),
                "encoder": asdict(self.encoder)}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, object]]) -> BackboneConfig:
        try:
            return cls(acoustic=AcousticConfig(**data["acoustic"]),
                       wavenet=WaveNetConfig(**data["wavenet"]),
                       encoder=EncoderConfig(**data["encoder"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the checkpoint's model config does not fit this code: {exc}") from exc

    @classmethod
    def sized(cls, size: str, n_symbols: int, n_mels: int = 80, hop_length: int = 200,
              speaker_channels: int = 64, wavenet_speaker_channels: int | None = None,
              pitch_in_speaker: bool = False, languages: int = 0) -> BackboneConfig:
        """A backbone of one of ``MODEL_SIZES``; ``wavenet_speaker_channels=0`` makes the
        WaveNet universal (mel frames alone); ``languages`` > 0 gives the acoustic model a
        language embedding."""
        if size not in MODEL_SIZES:
            raise ValueError(f"model size must be one of {', '.join(MODEL_SIZES)}, not {size!r}")
        sizes = MODEL_SIZES[size]
        wavenet_g = speaker_channels if wavenet_speaker_channels is None else wavenet_speaker_channels
        return cls(
            acoustic=AcousticConfig(n_symbols=n_symbols, n_mels=n_mels,
                                    speaker_channels=speaker_channels,
                                    pitch_in_speaker=pitch_in_speaker, languages=languages,
                                    **sizes["acoustic"]),
            wavenet=WaveNetConfig(cond_channels=n_mels, speaker_channels=wavenet_g,
                                  hop_length=hop_length, **sizes["wavenet"]),
            encoder=EncoderConfig(n_mels=n_mels, speaker_channels=speaker_channels,
                                  **sizes["encoder"]),
        )

    @classmethod
    def compact(cls, n_symbols: int, n_mels: int = 80, hop_length: int = 200,
                speaker_channels: int = 16) -> BackboneConfig:
        """A tiny model for tests."""
        return cls.sized("compact", n_symbols, n_mels, hop_length, speaker_channels)


#: the one table of model sizes (training's ``model.size``); a network's config defaults are
#: the "default" size, so only the differences are written here
MODEL_SIZES: dict[str, dict[str, dict[str, int]]] = {
    "default": {"acoustic": {}, "wavenet": {}, "encoder": {}},
    "compact": {
        "acoustic": {"d_model": 32, "n_heads": 2, "encoder_layers": 1, "decoder_layers": 1,
                     "ff_channels": 64, "predictor_channels": 32},
        "wavenet": {"residual_channels": 16, "gate_channels": 32, "skip_channels": 16,
                    "layers": 4, "stacks": 2},
        "encoder": {"channels": 32, "layers": 2},
    },
}


@dataclass(frozen=True)
class NormStats:
    """Corpus statistics the features are normalized with."""

    mel_mean: tuple[float, ...]
    mel_std: tuple[float, ...]
    logf0_mean: float = 4.8
    logf0_std: float = 0.3

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "mel_mean": list(self.mel_mean), "mel_std": list(self.mel_std)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> NormStats:
        return cls(mel_mean=tuple(data["mel_mean"]), mel_std=tuple(data["mel_std"]),
                   logf0_mean=float(data["logf0_mean"]), logf0_std=float(data["logf0_std"]))

    def _mel_moments(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mel_mean, device=mel.device, dtype=mel.dtype)[:, None]
        std = torch.tensor(self.mel_std, device=mel.device, dtype=mel.dtype)[:, None]
        return mean, std

    def normalize_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """(..., M, T) log-mel -> zero-mean unit-variance per channel."""
        mean, std = self._mel_moments(mel)
        return (mel - mean) / std

    def denormalize_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`normalize_mel`."""
        mean, std = self._mel_moments(mel)
        return mel * std + mean

    def normalize_f0(self, f0_hz: torch.Tensor) -> torch.Tensor:
        """Hz -> normalized log-F0; unvoiced (0 Hz) stays 0."""
        voiced = f0_hz > 0
        out = (torch.log(f0_hz.clamp(min=1.0)) - self.logf0_mean) / self.logf0_std
        return torch.where(voiced, out, torch.zeros_like(out))


    def voice_pitch(self, f0_hz: torch.Tensor, min_voiced: int = 20) -> torch.Tensor:
        """(B, T) frame F0 in Hz (0 unvoiced) -> (B, 2): each row's voiced log-F0 mean and
        spread in corpus units, ``((mean - logf0_mean) / logf0_std, std / logf0_std)``.

        Rows with fewer than ``min_voiced`` voiced frames get the corpus's own (0, 1).
        """
        voiced = (f0_hz > 0).to(torch.float32)
        logf0 = torch.log(f0_hz.clamp(min=1.0).to(torch.float32))
        n = voiced.sum(-1)
        mean = (logf0 * voiced).sum(-1) / n.clamp(min=1)
        var = (((logf0 - mean[:, None]) ** 2) * voiced).sum(-1) / n.clamp(min=1)
        out = torch.stack([(mean - self.logf0_mean) / self.logf0_std,
                           var.sqrt() / self.logf0_std], dim=-1)
        enough = (n >= min_voiced)[:, None]
        return torch.where(enough, out, torch.tensor([0.0, 1.0], device=out.device))


class Backbone(nn.Module):
    """All networks plus the metadata that makes a checkpoint self-describing."""

    def __init__(self, cfg: BackboneConfig, speakers: list[str], symbols: SymbolTable,
                 features: FeatureParams, stats: NormStats, languages: list[str] | None = None):
        super().__init__()
        if len(symbols) != cfg.acoustic.n_symbols:
            raise ValueError("the symbol table's size differs from the acoustic model's n_symbols")
        if len(languages or []) != cfg.acoustic.languages:
            raise ValueError(f"{len(languages or [])} language names for an acoustic model with "
                             f"{cfg.acoustic.languages} languages")
        if features.n_mels != cfg.acoustic.n_mels or features.hop_length != cfg.wavenet.hop_length:
            raise ValueError("feature parameters differ from the model's n_mels / hop_length")
        self.cfg = cfg
        self.speakers = list(speakers)
        # the espeak-ng languages of the language embedding's rows (empty: no embedding)
        self.languages = list(languages or [])
        self.symbols = symbols
        self.features = features
        self.stats = stats
        # the checkpoint's free-form record (JSON in its header): "vocoder" (the recommended
        # one), "step", "git", "vocoder_file", training notes; read by ``recommended_vocoder``
        self.extra: dict[str, Any] = {}
        self.speaker_table = nn.Embedding(len(speakers), cfg.speaker_channels)
        nn.init.normal_(self.speaker_table.weight, std=0.3)
        self.acoustic = AcousticModel(cfg.acoustic)
        self.wavenet = WaveNet(cfg.wavenet)
        self.encoder = SpeakerEncoder(cfg.encoder)

    @property
    def default_speaker(self) -> str:
        """The speaker that speaks when no voice is named: the first by name (the CLI's
        default, and the service's "alloy")."""
        return sorted(self.speakers)[0]

    @property
    def recommended_vocoder(self) -> str | None:
        """The vocoder the checkpoint recommends ("wavenet" or "griffin-lim"), if it names one."""
        named = self.extra.get("vocoder")
        return None if named is None else str(named)

    def speaker_index(self, name: str) -> int:
        try:
            return self.speakers.index(name)
        except ValueError:
            raise KeyError(f"unknown speaker {name!r}; this model has {len(self.speakers)} "
                           f"speakers, e.g. {', '.join(self.speakers[:5])}") from None

    def language_index(self, code: str) -> int:
        """The embedding row of an espeak-ng language code: the same code, else the first of
        the same language ("en-gb" for "en-us" when only British English was trained)."""
        if code in self.languages:
            return self.languages.index(code)
        base = code.split("-")[0]
        for i, known in enumerate(self.languages):
            if known.split("-")[0] == base:
                return i
        raise ValueError(f"this model was not trained on language {code!r}; it knows "
                         f"{', '.join(self.languages) or 'no language by name'}")

    def language_ids(self, codes: list[str] | tuple[str, ...]) -> torch.Tensor | None:
        """(B,) rows for ``codes``, on the model's device; None for a model without a language
        embedding (every code is then accepted: the model never told languages apart)."""
        if not self.languages:
            return None
        return torch.tensor([self.language_index(c) for c in codes],
                            device=self.speaker_table.weight.device)

    def with_voice_pitch(self, g: torch.Tensor, f0_hz: torch.Tensor) -> torch.Tensor:
        """g (B, S) with its last two channels set to the measured pitch of ``f0_hz`` (B, T),
        for a model whose pitch lives in the speaker embedding; other models get g back."""
        if not self.cfg.acoustic.pitch_in_speaker:
            return g
        pitch = self.stats.voice_pitch(f0_hz.to(g.device)).to(g.dtype)
        return torch.cat([g[:, :-2], pitch], dim=-1)

    def speaker_embedding(self, name: str) -> torch.Tensor:
        """(S,) table entry of a training speaker."""
        return self.speaker_table.weight[self.speaker_index(name)].detach()

    def metadata(self) -> dict[str, object]:
        return {
            "config": self.cfg.to_dict(),
            "speakers": self.speakers,
            **({"languages": self.languages} if self.languages else {}),
            "symbols": self.symbols.to_dict(),
            "features": self.features.to_dict(),
            "stats": self.stats.to_dict(),
        }

