"""Grapheme-to-phoneme conversion with espeak-ng from pip packages alone.

``espeakng-loader`` ships the espeak-ng library and its data in a wheel, and
``phonemizer`` drives it, so serving needs no apt package. The backend is made
on first use (not at import) and guarded by a lock: espeak-ng is not thread-safe.
"""

from __future__ import annotations

import functools
import logging
import os
import threading

DEFAULT_LANGUAGE = "en-us"
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _backend(language: str):
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    os.environ.setdefault("ESPEAK_DATA_PATH", espeakng_loader.get_data_path())
    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    # phonemizer warns about word-count changes that punctuation handling causes on purpose
    quiet = logging.getLogger("voiceadapt.text.g2p.espeak")
    quiet.setLevel(logging.ERROR)
    return EspeakBackend(
        language,
        logger=quiet,
        preserve_punctuation=True,
        punctuation_marks=';:,.!?"',
        with_stress=True,
        language_switch="remove-flags",
    )


def espeak_version(language: str = DEFAULT_LANGUAGE) -> str:
    """The espeak-ng version phonemizing ``language`` (phonemes can change between versions)."""
    return ".".join(str(v) for v in _backend(language).version())


def phonemize(sentences: list[str], language: str = DEFAULT_LANGUAGE) -> list[str]:
    """Normalized sentences -> IPA strings with stress marks, words separated by spaces."""
    if not sentences:
        return []
    with _LOCK:
        out = _backend(language).phonemize(list(sentences), strip=True, njobs=1)
    return [" ".join(p.split()) for p in out]
