"""How many CPU threads a reconstruction should use: the cores that other work leaves idle.

PyTorch with more threads than free cores runs several times slower, so ``threads=0`` means "the idle
cores".  They are measured over a short window from ``/proc/stat`` (Linux; only the CPUs this process
may run on), which sees the machine as it is now; the 1-minute load average, the fallback elsewhere,
also counts the work this same process did a moment ago (a demo's own rendering step), and would
leave a core idle on an idle machine.
"""

from __future__ import annotations

import os
import time

import torch


def cpu_times(stat_text: str, cpus: set[int] | None = None) -> tuple[int, int]:
    """(total, idle) jiffies summed over the ``cpuN`` lines of a ``/proc/stat`` text (all when ``cpus``
    is None); idle counts idle + iowait, total leaves out guest time (already inside user time)."""
    total = idle = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        values = [int(v) for v in rest.split()]
        total += sum(values[:8])
        idle += values[3] + (values[4] if len(values) > 4 else 0)
    return total, idle


def busy_cores(interval: float = 0.2) -> float | None:
    """Cores busy with any work during the next ``interval`` seconds (0 .. usable cores), or None
    where ``/proc/stat`` cannot be read."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = None
    try:
        with open("/proc/stat") as f:
            t0, i0 = cpu_times(f.read(), cpus)
        time.sleep(interval)
        with open("/proc/stat") as f:
            t1, i1 = cpu_times(f.read(), cpus)
    except (OSError, ValueError):
        return None
    if t1 <= t0:
        return None
    n = len(cpus) if cpus else (os.cpu_count() or 1)
    return n * (1.0 - (i1 - i0) / (t1 - t0))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def choose_threads(requested: int) -> int:
    """Set torch's CPU threads: ``requested`` when > 0, else the cores not busy with other work (at
    least 1); returns the number set."""
    cores = usable_cores()
    if requested > 0:
        n = requested
    else:
        busy = busy_cores()
        if busy is None:
            try:
                busy = os.getloadavg()[0]
            except OSError:
                busy = 0.0
        n = max(1, min(cores, int(cores - busy + 0.5)))
    torch.set_num_threads(n)
    return n
