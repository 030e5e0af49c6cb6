"""Wall time and peak resident memory of a block of code (Linux /proc, sampled in a thread)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass


def rss_mb() -> float:
    """Resident set size of this process in MiB (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/statm") as stream:
            pages = int(stream.read().split()[1])
    except OSError:
        return 0.0
    import os
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Usage:
    seconds: float = 0.0
    peak_mb: float = 0.0       # peak RSS during the block
    increase_mb: float = 0.0   # peak RSS minus RSS at the start


@contextmanager
def measure(interval: float = 0.02):
    """with measure() as usage: ...  -> usage.seconds, usage.peak_mb, usage.increase_mb."""
    usage = Usage()
    start_rss = peak = rss_mb()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(interval):
            peak = max(peak, rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield usage
    finally:
        usage.seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        peak = max(peak, rss_mb())
        usage.peak_mb, usage.increase_mb = peak, peak - start_rss
