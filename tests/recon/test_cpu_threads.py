import multiprocessing
import os
import time

import pytest
import torch

from fields3d.recon.cpu_threads import busy_cores, choose_threads, cpu_times, usable_cores

STAT = """cpu  900 0 300 5000 100 0 0 0 0 0
cpu0 400 0 100 2500 50 0 0 0 7 0
cpu1 500 0 200 2500 50 0 0 0 0 0
intr 12345
"""


def test_cpu_times_sums_the_chosen_cpus_and_counts_iowait_as_idle():
    assert cpu_times(STAT) == (400 + 100 + 2500 + 50 + 500 + 200 + 2500 + 50, 2550 + 2550)
    assert cpu_times(STAT, {1}) == (500 + 200 + 2500 + 50, 2550)


def test_choose_threads_sets_torch_threads():
    before = torch.get_num_threads()
    try:
        assert choose_threads(3) == 3 and torch.get_num_threads() == 3
        n = choose_threads(0)
        assert 1 <= n <= usable_cores() and torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux /proc/stat")
def test_busy_cores_sees_a_spinning_process():
    cores = usable_cores()
    idle = busy_cores(0.2)
    assert idle is not None and 0.0 <= idle <= cores + 1e-6
    worker = multiprocessing.get_context("fork").Process(target=_spin, args=(3.0,))
    worker.start()
    try:
        time.sleep(0.3)  # the forked child spins at once
        busy = busy_cores(0.5)
    finally:
        worker.join()
    # the spinning child keeps about one core busy, whatever else runs
    assert busy is not None and busy >= 0.7
