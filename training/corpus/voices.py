"""Base voices: the Debian synthesizers and recordings the corpora are made from.

A base voice is one way of getting audio of one *person*: flite ``kal``, ``kal16`` and
festival ``kal_diphone`` are three voices of one man, and all of espeak-ng is one
family. :data:`VOICES` is the one list of what may be used, each voice with its person,
language and kind (synthesizer or recording) and its role:

- ``train``: may be used to make training speakers;
- ``held-out``: a whole person kept for leave-voice-out evaluation; the builder refuses
  to put it in a training split (the ``default`` preset predates this and still uses
  flite ``rms``: its dev line measures interpolation, not adaptation).

Anything else is refused by name; :func:`is_reserved` names the voices kept for the final
evaluation, which no script or test of ours runs.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceadapt.audio import SAMPLE_RATE, decode
from voiceadapt.audio.processing import resample, to_mono

_TIMEOUT_S = 120
TEXTS = Path(__file__).parent / "texts"
ASTERISK = Path("/usr/share/asterisk/sounds")
KLETTRES = Path("/usr/share/klettres")

# Kept for the final evaluation, never synthesized, decoded or trained on by our code: flite
# slt, festival cmu_us_slt_arctic_hts, Asterisk's English and Spanish core sounds (Allison),
# and every recording under /usr/share/sounds.
_RESERVED_PATTERNS = (re.compile(r"slt"), re.compile(r"asterisk-core-sounds-(en|es)"),
                      re.compile(r"allison"), re.compile(r"^/usr/share/sounds"))


@dataclass(frozen=True)
class BaseVoice:
    """One source of audio of one person.

    ``engine`` is flite, festival, espeak-ng (synthesizers: ``voice`` is the engine's
    voice name) or recordings (``voice`` names a folder of real prompts, see
    :func:`recorded_items`). ``language`` is the espeak-ng language its text is
    phonemized in; ``encoding`` the text encoding festival wants.
    """

    engine: str
    voice: str
    person: str = ""
    language: str = "en-us"
    sex: str = ""
    role: str = "train"
    encoding: str = "utf-8"
    label: str = ""  # the name, where it is not made from engine and voice

    @property
    def name(self) -> str:
        """Short id used in speaker names: ``flite-kal``, ``espeak-en-gb-x-rp-f2``."""
        if self.label:
            return self.label
        engine = "espeak" if self.engine == "espeak-ng" else self.engine
        return f"{engine}-{self.voice}".replace("+", "-").replace("_", "-")

    @property
    def kind(self) -> str:
        return "recording" if self.engine == "recordings" else "synthesizer"

    @property
    def tool(self) -> str | None:
        return {"flite": "flite", "festival": "festival", "espeak-ng": "espeak-ng"}.get(self.engine)


def _espeak(voice: str, sex: str, role: str = "train") -> BaseVoice:
    return BaseVoice("espeak-ng", voice, person="espeak-ng", sex=sex, role=role)


def _festival(voice: str, person: str, language: str, sex: str, encoding: str,
              role: str = "train") -> BaseVoice:
    return BaseVoice("festival", voice, person=person, language=language, sex=sex,
                     encoding=encoding, role=role)


def _asterisk(folder: str, person: str, language: str, sex: str, role: str = "train") -> BaseVoice:
    return BaseVoice("recordings", f"asterisk/{folder}", person=person, language=language,
                     sex=sex, role=role, label=f"asterisk-{person}")


def _klettres(code: str, language: str) -> BaseVoice:
    return BaseVoice("recordings", f"klettres/{code}", person=f"klettres-{code}",
                     language=language, label=f"klettres-{code.lower().replace('_', '-')}")


# The 12 voices of the ``default`` corpus, in its order (the bundled model's speakers).
TRAINING_VOICES: tuple[BaseVoice, ...] = (
    BaseVoice("flite", "kal", person="kal", sex="m"),
    BaseVoice("flite", "awb", person="awb", sex="m"),
    BaseVoice("flite", "rms", person="rms", sex="m", role="held-out"),
    BaseVoice("festival", "kal_diphone", person="kal", sex="m"),
    BaseVoice("festival", "ked_diphone", person="ked", sex="m"),
    _espeak("en-us", "m"),
    _espeak("en-gb-x-rp+f2", "f"),
    _espeak("en-gb-scotland", "m"),
    _espeak("en-029+m3", "m"),
    _espeak("en-gb-x-gbclan+f4", "f"),
    _espeak("en-gb-x-gbcwmd+m7", "m"),
    _espeak("en-us+f3", "f"),
)

# Corpus v2 adds other languages' synthesizers (real speakers' diphones underneath) and
# real people's recordings. Encodings: what each festival voice reads without spelling
# out bytes, checked on this machine (UTF-8 makes the Czech and Finnish voices spell out
# bytes, the Italian ones abort, the Catalan one misread accents; the Russian one wants
# UTF-8). Their output is 16 to 44.1 kHz; everything is resampled to 16 kHz.
MORE_VOICES: tuple[BaseVoice, ...] = (
    BaseVoice("flite", "kal16", person="kal", sex="m"),
    _espeak("en-gb", "m"),
    _espeak("en-us+f1", "f"),
    _espeak("en-gb-x-rp+m2", "m"),
    _espeak("en-029+f5", "f"),
    _espeak("en-gb-scotland+f2", "f"),
    _espeak("en-gb-x-gbclan+m4", "m"),
    _festival("lp_diphone", "it-lp", "it", "f", "iso-8859-1"),
    _festival("pc_diphone", "it-pc", "it", "m", "iso-8859-1"),
    _festival("czech_dita", "cs-dita", "cs", "f", "iso-8859-2"),
    _festival("czech_krb", "cs-krb", "cs", "f", "iso-8859-2"),
    _festival("czech_machac", "cs-machac", "cs", "m", "iso-8859-2"),
    _festival("czech_ph", "cs-ph", "cs", "m", "iso-8859-2"),
    _festival("hy_fi_mv_diphone", "fi-mv", "fi", "m", "iso-8859-1"),
    _festival("msu_ru_nsh_clunits", "ru-nsh", "ru", "m", "utf-8"),
    _festival("upc_ca_ona_hts", "ca-ona", "ca", "f", "iso-8859-15"),
    _asterisk("fr_CA_f_June", "june", "fr-fr", "f"),
    _asterisk("it_IT_m_Carlo", "carlo", "it", "m"),
    _asterisk("fr", "armelle", "fr-fr", "f"),
    _asterisk("es", "es-co", "es", "m"),
    _asterisk("it_IT_f_Menardi", "menardi", "it", "f"),
    *(_klettres(code, lang) for code, lang in (
        ("ar", "ar"), ("cs", "cs"), ("da", "da"), ("de", "de"), ("en", "en-us"),
        ("en_GB", "en-gb"), ("es", "es"), ("fr", "fr-fr"), ("he", "he"), ("hu", "hu"),
        ("it", "it"), ("lt", "lt"), ("ml", "ml"), ("nb", "nb"), ("nds", "de"), ("nl", "nl"),
        ("pt_BR", "pt-br"), ("ru", "ru"), ("tn", "tn"), ("uk", "uk"))),
)

# Whole persons held out for leave-voice-out evaluation (with every rendering of them),
# and one espeak-ng accent family, reported apart since espeak is one family.
HELD_OUT_VOICES: tuple[BaseVoice, ...] = (
    _festival("suo_fi_lj_diphone", "fi-lj", "fi", "f", "iso-8859-1", role="held-out"),
    _asterisk("ru_RU_f_IvrvoiceRU", "ru-ivr", "ru", "f", role="held-out"),
    _espeak("en-us-nyc", "m", role="held-out"),
    _espeak("en-us-nyc+f4", "f", role="held-out"),
)

VOICES: tuple[BaseVoice, ...] = TRAINING_VOICES + MORE_VOICES + HELD_OUT_VOICES
_ALLOWED = {v.name: v for v in VOICES}
# espeak-ng is one family: holding out its nyc accent holds out the accent, not the person
HELD_OUT_PERSONS = frozenset(v.person for v in VOICES if v.role == "held-out") - {"espeak-ng"}


def is_reserved(name: str) -> bool:
    """True for a voice or path kept for the final evaluation."""
    key = name.lower().replace("_", "-")
    return any(p.search(key) for p in _RESERVED_PATTERNS)


def voice_by_name(name: str) -> BaseVoice:
    """Look up a known voice; reserved and unknown voices are refused."""
    if is_reserved(name):
        raise ValueError(f"{name!r} is reserved for evaluation: no corpus may use it")
    try:
        return _ALLOWED[name]
    except KeyError:
        raise ValueError(
            f"{name!r} is not a corpus voice (known: {', '.join(_ALLOWED)}); "
            "other voices on this machine are not brought in"
        ) from None


FESTIVAL_VOICES = Path("/usr/share/festival/voices")


def missing_tools(voices: tuple[BaseVoice, ...] | list[BaseVoice]) -> list[str]:
    """Synthesizers not installed, festival voices and recording folders not present."""
    out = {v.tool for v in voices if v.tool and shutil.which(v.tool) is None}
    out |= {v.voice for v in voices if v.engine == "recordings" and not _recording_root(v).is_dir()}
    out |= {v.voice for v in voices
            if v.engine == "festival" and not any(FESTIVAL_VOICES.glob(f"*/{v.voice}"))}
    return sorted(out)


# The Debian package that brings each voice (checked with `dpkg -S` on 2026-11-27). The
# Asterisk prompts come as G.722 where Debian has them, GSM otherwise (what
# :func:`recorded_items` reads); none may be a reserved package (tests/test_corpus_v2.py).
_PACKAGES = {
    "kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k",
    "lp_diphone": "festvox-italp16k", "pc_diphone": "festvox-itapc16k",
    "czech_dita": "festvox-czech-dita", "czech_krb": "festvox-czech-krb",
    "czech_machac": "festvox-czech-machac", "czech_ph": "festvox-czech-ph",
    "hy_fi_mv_diphone": "festvox-suopuhe-mv", "suo_fi_lj_diphone": "festvox-suopuhe-lj",
    "msu_ru_nsh_clunits": "festvox-ru", "upc_ca_ona_hts": "festvox-ca-ona-hts",
    "asterisk/fr_CA_f_June": "asterisk-core-sounds-fr-g722",
    "asterisk/it_IT_m_Carlo": "asterisk-core-sounds-it-g722",
    "asterisk/ru_RU_f_IvrvoiceRU": "asterisk-core-sounds-ru-g722",
    "asterisk/fr": "asterisk-prompt-fr-armelle", "asterisk/es": "asterisk-prompt-es-co",
    "asterisk/it_IT_f_Menardi": "asterisk-prompt-it-menardi-gsm",
}


def debian_packages(voices: tuple[BaseVoice, ...] | list[BaseVoice]) -> list[str]:
    """The Debian packages a build of these voices needs (``apt-get install`` them), sorted."""
    out = set()
    for v in voices:
        if v.engine == "flite":
            out.add("flite")  # kal, kal16, awb and rms are built into the flite package
        elif v.engine == "espeak-ng":
            out.add("espeak-ng")
        elif v.voice.startswith("klettres/"):
            out.add("klettres-data")
        else:
            if v.engine == "festival":
                out.add("festival")
            out.add(_PACKAGES[v.voice])
    return sorted(out)


# -- synthesizers -----------------------------------------------------------------------------
def _festival_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, timeout=_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")


def synthesize_batch(voice: BaseVoice, texts: list[str]) -> list[np.ndarray]:
    """Speak each text with ``voice``; returns mono float32 waveforms at 16 kHz.

    festival runs once per batch (its start-up costs about a second) from a script in
    the voice's encoding; flite and espeak-ng start fast enough to run once per sentence.
    """
    if voice.engine == "recordings":
        raise ValueError(f"{voice.name} is a set of recordings: it cannot speak new text")
    with tempfile.TemporaryDirectory(prefix="voiceadapt-synth-") as tmp:
        paths = [Path(tmp) / f"{i}.wav" for i in range(len(texts))]
        if voice.engine == "festival":
            script = Path(tmp) / "batch.scm"
            lines = [f"(voice_{voice.voice})"]
            lines += [
                f"(utt.save.wave (SynthText {_festival_string(t)}) {_festival_string(str(p))} 'riff)"
                for t, p in zip(texts, paths, strict=True)
            ]
            script.write_bytes(("\n".join(lines) + "\n").encode(voice.encoding, errors="replace"))
            _run(["festival", "-b", str(script)])
        else:
            for text, path in zip(texts, paths, strict=True):
                if voice.engine == "flite":
                    _run(["flite", "-voice", voice.voice, "-t", text, "-o", str(path)])
                else:
                    _run(["espeak-ng", "-v", voice.voice, "-w", str(path), "--", text])
        out = []
        for path in paths:
            if not path.exists() or os.path.getsize(path) <= 44:
                raise RuntimeError(f"{voice.name} produced no audio for a sentence")
            samples, rate = decode(path)
            out.append(resample(to_mono(samples), rate, SAMPLE_RATE))
        return out


# -- recordings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recording:
    """One real prompt: ``text`` is what is said, or "" where no transcript is known."""

    key: str  # unique within the voice, used in file names
    path: Path
    text: str


_NOT_SPEECH = re.compile(r"beep|tone|silence|^dtmf", re.IGNORECASE)


def _recording_root(voice: BaseVoice) -> Path:
    kind, _, folder = voice.voice.partition("/")
    return (ASTERISK if kind == "asterisk" else KLETTRES) / folder


# Upstream transcripts of Asterisk prompt sets, where one could be found (CC-BY 3.0).
_PROMPT_TRANSCRIPTS = {"ru_RU_f_IvrvoiceRU": "core-sounds-ru.txt"}
_NOTES = re.compile(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)|\.\.\.|…")


@functools.lru_cache(maxsize=4)
def prompt_transcripts(folder: str) -> dict[str, str]:
    """``name: text`` lines of an upstream ``core-sounds-<lang>.txt`` -> {name: spoken text}.

    Bracketed notes (``[beep]``, ``<beep ascending>``, ``(2 seconds of silence)``, the
    symbol after a spoken punctuation name) and fragment dots are removed; a line with no
    words left (a tone, silence) is dropped."""
    name = _PROMPT_TRANSCRIPTS.get(folder)
    if name is None:
        return {}
    out = {}
    for line in (TEXTS / "asterisk" / name).read_text(encoding="utf-8").splitlines():
        if line.startswith((";", "#")) or ": " not in line:
            continue
        key, _, text = line.partition(": ")
        words = " ".join(_NOTES.sub(" ", text).split()).strip(" ,")
        if any(ch.isalpha() for ch in words):
            out[key.strip()] = words
    return out


@functools.lru_cache(maxsize=1)
def _digit_words() -> dict[str, dict[str, str]]:
    data = json.loads((TEXTS / "numbers.json").read_text(encoding="utf-8"))
    return {folder: entry["words"] for folder, entry in data.items()}


def recorded_items(voice: BaseVoice) -> list[Recording]:
    """Every usable prompt of a recorded voice, sorted by key.

    Asterisk prompts: the numbers in ``digits/`` are transcribed (``texts/numbers.json``),
    the other prompts where an upstream transcript list is kept in ``texts/asterisk/``
    (Russian only: none ships with Debian's packages); the rest stay untranscribed (for the
    speaker encoder). klettres: ``sounds.xml`` names what each clip says.
    """
    root = _recording_root(voice)
    if is_reserved(str(root)) or is_reserved(str(root.resolve())):
        raise ValueError(f"{root} is reserved for evaluation")
    if voice.voice.startswith("klettres/"):
        return _klettres_items(root)
    words = _digit_words().get(str(root / "digits"), {})
    prompts = prompt_transcripts(root.name)
    items = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".g722", ".gsm") or not path.is_file():
            continue
        rel = path.relative_to(root).with_suffix("")
        if len(rel.parts) > 2 or rel.parts[0] in ("letters", "phonetic", "silence") \
                or _NOT_SPEECH.search(rel.name):
            continue  # letters and spelling alphabets (short, language-ambiguous), silence, tones
        if rel.parts[0] == "digits" and len(rel.parts) == 2:
            text = words.get(rel.name, "")  # checked by hand (texts/numbers.json)
        else:
            text = prompts.get(rel.as_posix(), "")
        items.append(Recording(key="-".join(rel.parts), path=path, text=text))
    return items


def _klettres_items(root: Path) -> list[Recording]:
    tree = ET.parse(root / "sounds.xml")
    items, seen = [], set()
    for node in tree.iter("sound"):
        path = KLETTRES / node.get("file", "")
        name = (node.get("name") or "").strip()
        if not name or not path.is_file() or path in seen:
            continue
        seen.add(path)
        key = re.sub(r"[^A-Za-z0-9-]", "_", path.relative_to(root).with_suffix("").as_posix())
        items.append(Recording(key=key, path=path, text=name.lower()))
    return sorted(items, key=lambda r: r.key)


def decode_recording(path: Path) -> np.ndarray:
    """A prompt file (raw G.722 or GSM, or any container) -> mono float32 at 16 kHz."""
    if path.suffix in (".g722", ".gsm"):
        import av

        chunks = []
        with av.open(str(path), format=path.suffix[1:]) as container:
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or (16_000 if path.suffix == ".g722" else 8000)
            resampler = av.AudioResampler(format="flt", layout="mono")
            for frame in container.decode(stream):
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return resample(samples.astype(np.float32), int(rate), SAMPLE_RATE)
    samples, rate = decode(path)
    return resample(to_mono(samples), rate, SAMPLE_RATE)
