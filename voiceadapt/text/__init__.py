"""Text front-end: normalization, sentence splitting, G2P and the symbol table."""

from voiceadapt.text.errors import EmptyTextError, SymbolTableMismatch, TextError
from voiceadapt.text.frontend import Sentence, process, transcript
from voiceadapt.text.g2p import phonemize
from voiceadapt.text.normalize import normalize
from voiceadapt.text.sentences import split_sentences
from voiceadapt.text.symbols import SYMBOLS_VERSION, SymbolTable

__all__ = [
    "EmptyTextError", "SYMBOLS_VERSION", "Sentence", "SymbolTable", "SymbolTableMismatch",
    "TextError", "normalize", "phonemize", "process", "split_sentences", "transcript",
]
