"""Errors the text front-end raises; each message is meant for the person who typed the text."""


class TextError(ValueError):
    """Base class for text front-end errors."""


class EmptyTextError(TextError):
    """The text is empty, whitespace only, or has nothing speakable in it."""


class SymbolTableMismatch(TextError):
    """A checkpoint was made with a different symbol table than this code has."""
