"""One training step's computation as a module, so DDP wraps a single forward.

The backbone is trained jointly: acoustic model (with its aligner) and WaveNet on
the same speaker embedding, and the SEA-ENC encoder both regressed onto the table
embedding and used in its place for a share of the batches, plus a speaker
classification loss that keeps encoder embeddings of different speakers apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.data import AcousticBatch, WaveNetBatch, segment_mels
from voiceadapt.audio import log_mel, mu_law_encode
from voiceadapt.models import alignment
from voiceadapt.models.acoustic import sequence_mask
from voiceadapt.models.backbone import Backbone


def _full_precision(device: torch.device) -> torch.autocast:
    """Features are computed in float32 even inside bf16 autocast (as at inference)."""
    return torch.autocast(device.type, enabled=False)


class TrainStep(nn.Module):
    def __init__(self, model: Backbone):
        super().__init__()
        self.model = model

    def wavenet_loss(self, w: WaveNetBatch) -> torch.Tensor:
        """Cross-entropy of the WaveNet on segments, conditioned on table embeddings."""
        m = self.model
        device = m.speaker_table.weight.device
        with torch.no_grad(), _full_precision(device):
            w_mels = m.stats.normalize_mel(segment_mels(w.frame_audio.to(device), m.features,
                                                        w.audio.shape[1]))
            w_target = mu_law_encode(w.audio.to(device), m.cfg.wavenet.n_classes)
        # the WaveNet learns on table embeddings; the encoder is trained to land on them
        logits = m.wavenet(w_target, w_mels, m.speaker_table(w.speakers.to(device)))
        return F.cross_entropy(logits.float(), w_target)

    def forward(self, a: AcousticBatch | None, w: WaveNetBatch, use_encoder: bool,
                bin_weight: float) -> dict[str, torch.Tensor]:
        """All losses; with ``a`` None, a WaveNet-only step (cheap: no alignment search)."""
        if a is None:
            loss = self.wavenet_loss(w)
            return {"wavenet": loss, "total": loss}
        m = self.model
        params, stats = m.features, m.stats
        device = m.speaker_table.weight.device
        with torch.no_grad(), _full_precision(device):
            mels = stats.normalize_mel(log_mel(a.audio.to(device), params))
            mel_lens = a.mel_lens.to(device).clamp(max=mels.shape[-1])
            ref = stats.normalize_mel(log_mel(a.ref_audio.to(device), params))
            ref_lens = a.ref_lens.to(device).clamp(max=ref.shape[-1])
            pitch = stats.normalize_f0(a.f0.to(device))[:, : mels.shape[-1]]
            if pitch.shape[-1] < mels.shape[-1]:
                pitch = F.pad(pitch, (0, mels.shape[-1] - pitch.shape[-1]))
            pitch = pitch * sequence_mask(mel_lens, mels.shape[-1])
            prior = alignment.batch_prior(a.text_lens.tolist(), mel_lens.tolist(), device)

        spk = a.speakers.to(device)
        g_table = m.speaker_table(spk)
        g_enc = m.encoder(ref, sequence_mask(ref_lens, ref.shape[-1]))
        g = g_enc if use_encoder else g_table
        losses = m.acoustic(a.ids.to(device), a.text_lens.to(device), mels, mel_lens, pitch, g,
                            prior=prior, bin_weight=bin_weight)

        losses["wavenet"] = self.wavenet_loss(w)

        losses["enc_mse"] = F.mse_loss(g_enc, g_table.detach())
        sim = F.normalize(g_enc, dim=-1) @ F.normalize(m.speaker_table.weight, dim=-1).T
        losses["enc_ce"] = F.cross_entropy(10.0 * sim, spk)
        losses["total"] = (losses["total"] + losses["wavenet"] + losses["enc_mse"]
                           + 0.1 * losses["enc_ce"])
        return losses
