"""Inference: load a backbone, pick a voice, synthesize text."""

from voiceadapt.adapt.sea_enc import embedding_from_references
from voiceadapt.inference.synthesize import DEFAULT_MODEL, default_model_path, load, synthesize

__all__ = ["DEFAULT_MODEL", "default_model_path", "embedding_from_references", "load", "synthesize"]
