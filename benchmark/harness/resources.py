"""Wall time and peak resident memory of a block of code (Linux /proc, sampled in a thread)."""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass


def _statm_mb(path: str) -> float:
    """Resident set size from a /proc statm file in MiB (0 where it cannot be read)."""
    try:
        with open(path) as stream:
            pages = int(stream.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    """Resident set size of this process in MiB (0 where /proc is unavailable)."""
    return _statm_mb("/proc/self/statm")


def tree_rss_mb(root_pid: int) -> float:
    """Resident memory of a process and all its descendants (worker processes), in MiB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stream:
                    parent = int(stream.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += _statm_mb(f"/proc/{pid}/statm")
        stack += children.get(pid, [])
    return total


@dataclass
class Usage:
    seconds: float = 0.0
    peak_mb: float = 0.0       # peak RSS during the block
    increase_mb: float = 0.0   # peak RSS minus RSS at the start
    peak_tree_mb: float = 0.0  # peak RSS of this process and its workers (with_workers only)


@contextmanager
def measure(interval: float = 0.02, with_workers: bool = False):
    """with measure() as usage: ...  -> usage.seconds, usage.peak_mb, usage.increase_mb (and
    usage.peak_tree_mb with `with_workers`, which walks /proc: for scripts, not for every cell)."""
    usage = Usage()
    start_rss = peak = rss_mb()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(interval):
            peak = max(peak, rss_mb())
            if with_workers:
                usage.peak_tree_mb = max(usage.peak_tree_mb, tree_rss_mb(os.getpid()))

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
