"""empirical.allocator: glibc keeps freed memory, so repeated large allocations stop faulting."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from empirical import allocator
from empirical.config import ConfigError

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# four 8 MiB arrays alive at once, then freed: 32 MiB at the heap's top, past glibc's dynamic
# trim threshold, so the default allocator gives it back and the next round faults it in again
CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from empirical.allocator import keep_freed_memory
    state = keep_freed_memory()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        arrs = [np.ones(1 << 20) for _ in range(4)]
        del arrs
    print(state, "|", resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    """
)


def _faults(setting: str) -> tuple[str, int]:
    env = {"FEATUREDROP_MALLOC": setting, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    state, faults = out.strip().rsplit("|", 1)
    return state.strip(), int(faults)


@pytest.mark.skipif(not GLIBC, reason="the tuning is for glibc's malloc")
def test_tuned_allocator_stops_the_page_faults_of_repeated_allocations() -> None:
    default_state, default = _faults("default")
    tuned_state, tuned = _faults("tuned")
    assert default_state == "default (FEATUREDROP_MALLOC=default)"
    assert tuned_state == "glibc tuned"
    # 20 rounds of 32 MiB are about 164,000 pages; the default allocator faults most of them
    assert default > 20_000
    assert tuned < default / 5


def test_default_setting_leaves_glibc_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.ENV, "Default")
    assert allocator._apply() == "default (FEATUREDROP_MALLOC=default)"


def test_unknown_setting_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.ENV, "jemalloc")
    with pytest.raises(ConfigError, match=r"FEATUREDROP_MALLOC: must be 'tuned' or 'default'"):
        allocator._apply()
