"""How much hiss does the WaveNet's 8-bit mu-law output cost, and does pre-emphasis help?
(issue 14: "pre-emphasis or noise shaping if it measurably lowers the hiss of 8-bit mu-law")

A perfect WaveNet reproduces a recording's mu-law classes exactly, so quantizing recordings
and decoding them back is the best any WaveNet with these targets can sound. Schemes:

- ``16-bit``: the recording itself (the reference);
- ``mu-law 8-bit``: today's targets (256 classes);
- ``pre-emphasis + mu-law 8-bit``: targets quantized after ``y[n] = x[n] - a x[n-1]`` and
  de-emphasized after decoding (``x[n] = y[n] + a x[n-1]``), which moves the quantization
  noise from the highs, where it is heard as hiss, to the lows, where speech masks it.
  ``a = 0.85`` is LPCNet's value for exactly this (Valin & Skoglund 2019), fixed in advance:
  no value is chosen here, least of all by the judges;
- ``mu-law 10-bit``: 1,024 classes, for scale (a 4x larger softmax).

Measured on clean recordings (no simulated channel) of the default corpus's dev speakers and
of the leave-voice-out corpus, with this project's own noise figures: SNR, the noise level in
4-8 kHz (the hiss band), and the same in the quiet frames between words (where nothing masks
it); DNSMOS OVRL and BAK from the judges (the ``eval`` extra) are reported beside them.

    python -m training.benchmarks.mulaw_noise --corpus data/corpus --lvo data/lvo \\
        --out docs/mulaw_noise
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import soundfile as sf
import torch

from training.benchmarks.report import write_report
from training.corpus.manifest import read_corpus
from voiceadapt.audio import mu_law_decode, mu_law_encode
from voiceadapt.audio.processing import FRAME_SECONDS, frame_dbfs

PREEMPHASIS = 0.85  # LPCNet's, fixed in advance
SAMPLE_RATE = 16_000
FRAME = int(SAMPLE_RATE * FRAME_SECONDS)  # the level meter's frame, 25 ms


def preemphasize(x: np.ndarray, a: float) -> np.ndarray:
    return np.concatenate([x[:1], x[1:] - a * x[:-1]]).astype(np.float32)


def deemphasize(y: np.ndarray, a: float) -> np.ndarray:
    """The inverse filter, run the way a streaming vocoder would: one sample after another."""
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -a], y).astype(np.float32)


def mulaw(x: np.ndarray, channels: int) -> np.ndarray:
    return mu_law_decode(mu_law_encode(x, channels), channels).numpy()


def schemes(x: np.ndarray) -> dict[str, np.ndarray]:
    # the pre-emphasized signal is quantized as it is (as LPCNet does): speech is low-pass,
    # so it is smaller than the input, and the rare sample beyond [-1, 1] is clipped
    emphasized = mulaw(preemphasize(x, PREEMPHASIS), 256)
    shaped = np.clip(deemphasize(emphasized, PREEMPHASIS), -1, 1)
    return {"16-bit": x, "mu-law 8-bit": mulaw(x, 256),
            f"pre-emphasis {PREEMPHASIS} + mu-law 8-bit": shaped, "mu-law 10-bit": mulaw(x, 1024)}


def band_db(noise: np.ndarray, lo: float = 4000.0, hi: float = SAMPLE_RATE / 2,
            frames: np.ndarray | None = None) -> float:
    """Mean power of ``noise`` between ``lo`` and ``hi`` Hz, dB re full scale, over all frames
    or the ``frames`` given (a boolean mask over the level meter's frames)."""
    n = len(noise) // FRAME
    spec = np.abs(np.fft.rfft(noise[: n * FRAME].reshape(n, FRAME) * np.hanning(FRAME), axis=1)) ** 2
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    power = spec[:, (freqs >= lo) & (freqs <= hi)].mean(axis=1) / (FRAME / 4)  # hann window power
    if frames is not None:
        power = power[frames[:n]]
    return float(10 * np.log10(power.mean() + 1e-20))


def quiet_frames(x: np.ndarray) -> np.ndarray:
    """Frames at least 35 dB below the utterance's loudest (the project's level meter): the
    pauses between words."""
    levels = frame_dbfs(x, SAMPLE_RATE)
    return levels < levels.max() - 35


def clean_recordings(corpus_dir: str, split: str, per_speaker: int) -> list[tuple[str, np.ndarray]]:
    corpus = read_corpus(corpus_dir)
    taken: dict[str, int] = {}
    out = []
    for u in corpus.utterances:
        if u.split != split or u.channel or taken.get(u.speaker, 0) >= per_speaker:
            continue
        x, rate = sf.read(str(corpus.audio_path(u)), dtype="float32")
        if rate != SAMPLE_RATE:
            continue
        taken[u.speaker] = taken.get(u.speaker, 0) + 1
        out.append((u.speaker, x))
    return out


def measure(sets: dict[str, list[tuple[str, np.ndarray]]], judge: bool) -> dict:
    judges = None
    if judge:
        from training.judges import Judges

        judges = Judges()
    rows = []
    for name, clips in sets.items():
        per: dict[str, dict[str, list[float]]] = {}
        for _, x in clips:
            quiet = quiet_frames(x)
            signal = float(np.mean(x**2))
            for scheme, y in schemes(x).items():
                m = per.setdefault(scheme, {})
                if judges is not None:
                    m.setdefault("dnsmos", []).append(judges.dnsmos(y))
                if scheme == "16-bit":  # the reference: no noise to measure
                    continue
                noise = y - x
                m.setdefault("snr_db", []).append(
                    10 * np.log10(signal / max(float(np.mean(noise**2)), 1e-20)))
                m.setdefault("hiss_db", []).append(band_db(noise))
                if quiet.any():
                    m.setdefault("hiss_in_pauses_db", []).append(band_db(noise, frames=quiet))
                m.setdefault("lows_db", []).append(band_db(noise, lo=0.0, hi=1000.0))
        for scheme, m in per.items():
            rows.append({"set": name, "scheme": scheme, "clips": len(clips),
                         **{k: round(float(np.mean(v)), 3) for k, v in m.items()}})
    return {"preemphasis": PREEMPHASIS, "rows": rows}


def markdown(result: dict) -> str:
    lines = ["| set | scheme | clips | SNR dB | noise 4-8 kHz dB | same, in pauses | noise < 1 kHz dB "
             "| DNSMOS OVRL |", "|---|---|---|---|---|---|---|---|"]
    def f(r: dict, key: str) -> str:
        v = r.get(key)
        return "n/a" if v is None else f"{v:.2f}" if key == "dnsmos" else f"{v:.1f}"

    for r in result["rows"]:
        lines.append(f"| {r['set']} | {r['scheme']} | {r['clips']} | {f(r, 'snr_db')} | {f(r, 'hiss_db')} "
                     f"| {f(r, 'hiss_in_pauses_db')} | {f(r, 'lows_db')} | {f(r, 'dnsmos')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/corpus", help="dev speakers' clean recordings")
    parser.add_argument("--lvo", help="the leave-voice-out corpus (its clean recordings)")
    parser.add_argument("--per-speaker", type=int, default=3)
    parser.add_argument("--no-judges", action="store_true", help="skip DNSMOS")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    sets = {"default corpus dev": clean_recordings(args.corpus, "dev", args.per_speaker)}
    if args.lvo:
        # every voice of that corpus: the round trip involves no model, so none was "heard"
        sets["leave-voice-out corpus"] = clean_recordings(args.lvo, "dev", args.per_speaker)
    result = measure(sets, judge=not args.no_judges)
    result["command"] = "python -m training.benchmarks.mulaw_noise " + " ".join(argv or sys.argv[1:])
    write_report(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
