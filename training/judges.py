"""The evaluation judges (the ``eval`` extra; never imported by the product).

pocketsphinx (+ jiwer) for word error rate, DNSMOS (speechmos) for a naturalness proxy,
resemblyzer's GE2E d-vectors for speaker similarity and verification. DNSMOS and resemblyzer
load once; pocketsphinx decodes each utterance with a fresh decoder (order-free WER).
"""

from __future__ import annotations

import re

import numpy as np

from voiceadapt.audio import SAMPLE_RATE, float_to_pcm16


def words(text: str) -> str:
    """Lower case, letters and apostrophes only: what WER compares."""
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


class Judges:
    """Loaded lazily, so a script that needs one judge does not pay for the others."""

    def __init__(self) -> None:
        self._dnsmos = None
        self._encoder = None

    def transcribe(self, wav: np.ndarray) -> str:
        """pocketsphinx's best hypothesis, from a decoder made for this utterance alone: a
        decoder carries its cepstral-mean and noise estimates over from one utterance to the
        next, so with one decoder a WER depended on what the process had decoded before (16
        recordings decoded in reverse order: 3 hypotheses changed; until 2026-11-27 every WER
        was measured so)."""
        from pocketsphinx import Decoder

        decoder = Decoder(samprate=SAMPLE_RATE, loglevel="ERROR")  # about 0.2 s
        decoder.start_utt()
        decoder.process_raw(float_to_pcm16(wav).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp else ""

    def dnsmos(self, wav: np.ndarray) -> float:
        if self._dnsmos is None:
            from speechmos import dnsmos

            self._dnsmos = dnsmos
        peak = float(np.abs(wav).max()) or 1.0
        return float(self._dnsmos.run(wav / peak * 0.9, SAMPLE_RATE)["ovrl_mos"])

    def dvector(self, wav: np.ndarray) -> np.ndarray:
        """Unit-norm GE2E utterance embedding (256,)."""
        if self._encoder is None:
            from resemblyzer import VoiceEncoder

            self._encoder = VoiceEncoder(device="cpu", verbose=False)
        from resemblyzer import preprocess_wav

        return self._encoder.embed_utterance(preprocess_wav(wav.astype(np.float32), SAMPLE_RATE))

    def wer(self, refs: list[str], wavs: list[np.ndarray]) -> tuple[float, list[str]]:
        import jiwer

        hyps = [words(self.transcribe(w)) for w in wavs]
        return float(jiwer.wer([words(r) for r in refs], hyps)), hyps


def unit_mean(vectors: list[np.ndarray]) -> np.ndarray:
    """Mean of utterance d-vectors, renormalized: a speaker's enrollment."""
    e = np.mean(vectors, axis=0)
    return e / np.linalg.norm(e)


def speaker_embedding(judges: Judges, wavs: list[np.ndarray]) -> np.ndarray:
    """A speaker's enrollment from its recordings (``unit_mean`` of their d-vectors)."""
    return unit_mean([judges.dvector(w) for w in wavs])


def score(judges: Judges, refs: list[str], wavs: list[np.ndarray]) -> dict[str, object]:
    """WER and mean DNSMOS OVRL of one set of utterances, with a few examples."""
    wer, hyps = judges.wer(refs, wavs)
    return {
        "wer": wer,
        "dnsmos_ovrl": float(np.mean([judges.dnsmos(w) for w in wavs])),
        "examples": [{"ref": words(r), "hyp": h} for r, h in zip(refs[:3], hyps[:3], strict=False)],
    }
