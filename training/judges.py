"""The evaluation judges (the ``eval`` extra; never imported by the product).

pocketsphinx (+ jiwer) for word error rate, DNSMOS (speechmos) for a naturalness proxy,
resemblyzer's GE2E d-vectors for speaker similarity and verification. Each loads once.
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
        self._decoder = None
        self._dnsmos = None
        self._encoder = None

    def transcribe(self, wav: np.ndarray) -> str:
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._decoder = Decoder(samprate=SAMPLE_RATE)
        pcm = float_to_pcm16(wav).tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
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


def speaker_embedding(judges: Judges, wavs: list[np.ndarray]) -> np.ndarray:
    """Mean of utterance d-vectors, renormalized: a speaker's enrollment."""
    e = np.mean([judges.dvector(w) for w in wavs], axis=0)
    return e / np.linalg.norm(e)


def score(judges: Judges, refs: list[str], wavs: list[np.ndarray]) -> dict[str, object]:
    """WER and mean DNSMOS OVRL of one set of utterances, with a few examples."""
    wer, hyps = judges.wer(refs, wavs)
    return {
        "wer": wer,
        "dnsmos_ovrl": float(np.mean([judges.dnsmos(w) for w in wavs])),
        "examples": [{"ref": words(r), "hyp": h} for r, h in zip(refs[:3], hyps[:3], strict=False)],
    }
