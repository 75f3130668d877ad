"""voiceadapt: few-shot speaker-adaptive text-to-speech.

``voiceadapt.load`` and ``voiceadapt.synthesize`` are imported on first use, so the
text and audio front-ends can be used without loading the models.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load", "synthesize", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("load", "synthesize"):
        from voiceadapt import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'voiceadapt' has no attribute {name!r}")
