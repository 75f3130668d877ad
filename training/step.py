"""One training step's computation as a module, so DDP wraps a single forward.

The backbone is trained jointly: acoustic model (with its aligner) and WaveNet on
the same speaker embedding, and the SEA-ENC encoder both regressed onto the table
embedding and used in its place for a share of the batches, plus a speaker
classification loss that keeps encoder embeddings of different speakers apart.
The losses themselves live in :mod:`voiceadapt.models.losses`, shared with adaptation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.data import AcousticBatch, WaveNetBatch
from training.speaker_losses import SpeakerAdversary, speaker_free_encoding
from voiceadapt.audio import log_mel
from voiceadapt.models import losses as L
from voiceadapt.models.backbone import Backbone


def batch_languages(m: Backbone, a: AcousticBatch) -> torch.Tensor | None:
    """The language rows of a batch's transcripts, for a model with a language embedding."""
    if not m.languages:
        return None
    if not a.languages or not all(a.languages):
        raise ValueError("this model has a language embedding, but the training data does not "
                         "name its transcripts' languages (a pack made before they were kept?)")
    return m.language_ids(a.languages)


def reference_embedding(m: Backbone, a: AcousticBatch) -> torch.Tensor:
    """g (B, S) as SEA-ENC hears each row's speaker: the encoder on another utterance of the
    speaker, with that utterance's measured pitch where the model carries pitch in g."""
    return m.with_voice_pitch(m.encoder(*L.encoder_input(m, a.ref_audio, a.ref_lens)), a.ref_f0)


class TrainStep(nn.Module):
    """``speaker_consistency`` and ``speaker_adversary`` weigh the two losses of
    :mod:`training.speaker_losses` (0: off); the adversary's classifier lives here, beside
    the backbone, and is trained with it."""

    def __init__(self, model: Backbone, speaker_consistency: float = 0.0,
                 speaker_adversary: float = 0.0):
        super().__init__()
        self.model = model
        self.speaker_consistency = speaker_consistency
        self.speaker_adversary = speaker_adversary
        self.adversary = (SpeakerAdversary(model.cfg.acoustic.d_model, len(model.speakers))
                          if speaker_adversary > 0 else None)

    def wavenet_loss(self, w: WaveNetBatch) -> torch.Tensor:
        # the WaveNet learns on table embeddings; the encoder is trained to land on them. A
        # universal WaveNet hears the mels alone (its corpus's speakers need not be the table's)
        m = self.model
        g = (m.speaker_table(w.speakers.to(m.speaker_table.weight.device))
             if m.cfg.wavenet.speaker_channels else None)
        return L.wavenet_loss(m, w.audio, w.frame_audio, g, frames=w.frames)

    @torch.no_grad()
    def teacher_forced_batch(self, a: AcousticBatch, segment: int, rng: np.random.Generator,
                             ) -> WaveNetBatch:
        """WaveNet segments of whole utterances, conditioned on the mels the acoustic model
        makes for them with their own durations and pitch and the speaker as SEA-ENC hears
        it (the encoder on another utterance): at training the vocoder hears what it gets at
        synthesis. Frames past an utterance's end keep the recording's own mel (silence)."""
        m = self.model
        modes = (m.acoustic.training, m.encoder.training)
        m.acoustic.eval()
        m.encoder.eval()
        try:
            forced = L.teacher_forced_mels(m, a.ids, a.text_lens, a.audio, a.mel_lens, a.f0,
                                           reference_embedding(m, a), batch_languages(m, a))
        finally:
            m.acoustic.train(modes[0])
            m.encoder.train(modes[1])
        params = m.features
        hop, n = params.hop_length, segment // params.hop_length
        audio = F.pad(a.audio, (0, segment + hop))
        real = m.stats.normalize_mel(log_mel(audio.to(forced.device), params))
        t = forced.shape[-1]
        lens = a.mel_lens.clamp(max=t)
        keep = torch.arange(t, device=forced.device)[None, :] < lens[:, None].to(forced.device)
        frames = real.clone()  # longer than forced: room for the last segment
        frames[..., :t] = torch.where(keep[:, None, :], forced, real[..., :t])
        segs, conds = [], []
        for i in range(len(lens)):
            start = int(rng.integers(0, L.segment_room(int(lens[i]) * hop, segment, hop)))
            segs.append(audio[i, start * hop : start * hop + segment])
            conds.append(frames[i, :, start : start + n])
        return WaveNetBatch(torch.stack(segs), torch.empty(len(segs), 0), a.speakers,
                            frames=torch.stack(conds).float())

    def forward(self, a: AcousticBatch | None, w: WaveNetBatch | None, use_encoder: bool,
                bin_weight: float) -> dict[str, torch.Tensor]:
        """All losses; with ``a`` None, a WaveNet-only step (cheap: no alignment search); with
        ``w`` None, no WaveNet loss."""
        if a is None:
            assert w is not None
            loss = self.wavenet_loss(w)
            return {"wavenet": loss, "total": loss}
        m = self.model
        spk = a.speakers.to(m.speaker_table.weight.device)
        g_table = m.speaker_table(spk)
        g_enc = reference_embedding(m, a)  # pitch measured, as SEA-ENC does at inference
        g = g_enc if use_encoder else g_table
        out: dict[str, torch.Tensor] = {}
        lang = batch_languages(m, a)
        losses = L.acoustic_losses(m, a.ids, a.text_lens, a.audio, a.mel_lens, a.f0, g,
                                   bin_weight=bin_weight, outputs=out, lang=lang)
        if self.speaker_consistency > 0:
            losses["scl"] = L.speaker_consistency_loss(m.encoder, out["mel_pred"], out["mel"],
                                                       out["mel_mask"])
            losses["total"] = losses["total"] + self.speaker_consistency * losses["scl"]
        if self.adversary is not None:
            free = speaker_free_encoding(m.acoustic, a.ids.to(g.device), out["text_mask"], g)
            losses["adv"] = self.adversary(free, out["text_mask"], spk)
            losses["total"] = losses["total"] + self.speaker_adversary * losses["adv"]
        losses["wavenet"] = self.wavenet_loss(w) if w is not None else torch.zeros((), device=g.device)
        losses["enc_mse"] = F.mse_loss(g_enc, g_table.detach())
        sim = F.normalize(g_enc, dim=-1) @ F.normalize(m.speaker_table.weight, dim=-1).T
        losses["enc_ce"] = F.cross_entropy(10.0 * sim, spk)
        losses["total"] = (losses["total"] + losses["wavenet"] + losses["enc_mse"]
                           + 0.1 * losses["enc_ce"])
        return losses
