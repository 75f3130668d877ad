"""The voiceadapt HTTP service (FastAPI). Imports only the inference side of ``voiceadapt``."""
