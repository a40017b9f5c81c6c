"""Keep freed memory in the process on glibc, so that training steps stop page-faulting.

A CPU training step allocates and frees the same few megabyte-sized activations every step.
glibc's ``malloc`` serves blocks above its mmap threshold (dynamic, 128 KiB to 32 MiB) with
fresh ``mmap`` pages and gives memory at the heap's top back to the kernel past its trim
threshold; either way the next step touches new pages and takes one minor page fault per 4 KiB
page, which on a virtual machine costs about as much as the arithmetic. Measured on the
project's 2-core AMD EPYC VMs (``python -m benchmarks allocator``, docs/cpu_scale_search.md):
with :func:`keep_freed_memory` an oracle-run step at batch 256 ran 1.39x faster and a viewmaker
step 1.21x, with about 20x fewer page faults a step and a few percent more resident memory.

The numbers computed are the same: only where the buffers live changes. Set
``FEATUREDROP_MALLOC=default`` to leave glibc's own settings (for a comparison, or where memory
is tight). On other C libraries (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

ENV = "FEATUREDROP_MALLOC"
# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
# the largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2); blocks above it are
# still mmapped
MMAP_THRESHOLD = 32 * 1024 * 1024
# never give the heap's top back, and grow it in 256 MiB steps
TRIM_THRESHOLD = 2**31 - 1
TOP_PAD = 256 * 1024 * 1024

_applied: str | None = None


def keep_freed_memory() -> str:
    """Tune glibc's allocator for this process (once; later calls return the first result):
    fixed mmap threshold at 32 MiB, no trimming, a 256 MiB top pad. Returns what was done:
    ``"glibc tuned"``, ``"default (FEATUREDROP_MALLOC=default)"``, ``"default (not glibc)"`` or
    ``"default (mallopt refused ...)"``, which ``summary.json`` records as ``allocator``.

    Raises:
        ConfigError: ``FEATUREDROP_MALLOC`` set to something other than tuned or default.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = _apply()
    return _applied


def _apply() -> str:
    choice = os.environ.get(ENV, "tuned").strip().lower()
    if choice == "default":
        return f"default ({ENV}=default)"
    if choice != "tuned":
        from empirical.config import ConfigError

        raise ConfigError(ENV, f"must be 'tuned' or 'default', got {choice!r}")
    if not sys.platform.startswith("linux"):
        return "default (not glibc)"
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded, libc's among them
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018  (absent outside glibc: AttributeError)
    except (OSError, AttributeError):
        return "default (not glibc)"
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    refused = [
        name
        for name, param, value in (
            ("M_MMAP_THRESHOLD", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            ("M_TRIM_THRESHOLD", M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            ("M_TOP_PAD", M_TOP_PAD, TOP_PAD),
        )
        if mallopt(param, value) != 1
    ]
    if refused:
        return f"default (mallopt refused {', '.join(refused)})"
    return "glibc tuned"
