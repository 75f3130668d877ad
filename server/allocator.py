"""The C allocator under many threads.

The service synthesizes and decodes in a thread pool. glibc lets threads that allocate at
once open new malloc arenas (up to 8 per core); memory freed in one arena serves only that
arena's later requests, and glibc returns freed memory to the system only from the top of a
heap, so large short-lived buffers (audio, mels, torch tensors) leave the RSS climbing.
Under the soak's mixed traffic the RSS grew steadily while the Python heap did not
(tracemalloc: +0.4 MB over 4 minutes), and ``malloc_trim`` at the end took it below where it
started: memory the allocator held, not a leak (docs/soak.md has the runs). So the server
caps the arenas at start-up and hands free memory back every ``malloc_trim_s`` seconds.
Two arenas were measured on this project's 2-core machine; on a many-core host with many
synthesis slots, raise ``VOICEADAPT_MALLOC_ARENAS`` (or set 0) if malloc contention shows.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

M_ARENA_MAX = -8  # glibc's mallopt parameter number


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas for threads created from now on (0: leave the default).
    Returns whether the cap was set; on a C library other than glibc nothing happens."""
    libc = _libc() if arenas > 0 else None
    return bool(libc.mallopt(M_ARENA_MAX, arenas)) if libc is not None else False


def trim_malloc() -> bool:
    """Hand the allocator's free memory back to the system; False where that cannot be done."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class MallocTrimmer:
    """A daemon thread that calls :func:`trim_malloc` every ``every_s`` seconds (0: never)."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trims = 0

    def start(self) -> None:
        if self.every_s <= 0 or _libc() is None:
            return
        self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            trim_malloc()
            self.trims += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
