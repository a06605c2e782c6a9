"""pyxsk.scheduling: SCHED_BATCH for a receiving thread, and rings sized for it.

The standard library's os.sched_getscheduler is the independent oracle for
what the ctypes calls did.  Each case runs in a thread of its own, so the
test runner's thread keeps its policy even when a case fails."""

import errno
import os
import queue
import threading

import pytest

from pyxsk import ConfigError, SyscallError, _libc, scheduling


def in_thread(fn):
    """Run ``fn(tid)`` in a new thread; return its result or raise its exception."""
    out = queue.Queue()

    def run():
        try:
            out.put((True, fn(threading.get_native_id())))
        except BaseException as e:     # handed to the caller, which raises it
            out.put((False, e))
    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert not t.is_alive(), "the thread did not finish"
    ok, value = out.get_nowait()
    if not ok:
        raise value
    return value


def test_policy_constants_match_the_standard_library():
    assert (_libc.SCHED_OTHER, _libc.SCHED_FIFO, _libc.SCHED_RR, _libc.SCHED_BATCH,
            _libc.SCHED_IDLE) == (os.SCHED_OTHER, os.SCHED_FIFO, os.SCHED_RR, os.SCHED_BATCH,
                                  os.SCHED_IDLE)


def test_sched_getscheduler_reads_what_the_kernel_says():
    def check(tid):
        assert _libc.sched_getscheduler(tid) == (os.sched_getscheduler(tid), 0)
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return _libc.sched_getscheduler(0)
    assert in_thread(check) == (os.SCHED_IDLE, 0)


def test_coalesced_wakeups_switches_only_the_calling_thread_and_restores_it():
    main_before = os.sched_getscheduler(threading.get_native_id())

    def check(tid):
        assert os.sched_getscheduler(tid) == os.SCHED_OTHER
        with scheduling.coalesced_wakeups():
            inside = os.sched_getscheduler(tid)
            main_inside = os.sched_getscheduler(threading.main_thread().native_id)
        return inside, main_inside, os.sched_getscheduler(tid)
    inside, main_inside, after = in_thread(check)
    assert inside == os.SCHED_BATCH
    assert main_inside == main_before == os.sched_getscheduler(threading.get_native_id())
    assert after == os.SCHED_OTHER


def test_coalesced_wakeups_restores_the_policy_it_found_also_on_an_exception():
    def check(tid):
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        with pytest.raises(KeyError):
            with scheduling.coalesced_wakeups():
                assert os.sched_getscheduler(tid) == os.SCHED_BATCH
                raise KeyError("inside")
        return os.sched_getscheduler(tid)
    assert in_thread(check) == os.SCHED_IDLE


@pytest.mark.root
def test_a_real_time_priority_comes_back_too():
    def check(tid):
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(1))
        try:
            with scheduling.coalesced_wakeups():
                assert os.sched_getscheduler(tid) == os.SCHED_BATCH
            return os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority
        finally:
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
    assert in_thread(check) == (os.SCHED_FIFO, 1)


def test_kernel_refusals_name_the_call():
    with pytest.raises(SyscallError) as info:
        _libc.sched_setscheduler(0, 99, 0, call="sched_setscheduler(policy 99)")
    assert info.value.errno == errno.EINVAL
    assert isinstance(info.value, OSError)
    assert "sched_setscheduler(policy 99)" in str(info.value)


@pytest.mark.parametrize("pps,seconds,size", [
    (1, 0.004, 2048), (500e3, 0.004, 2048), (600e3, 0.004, 4096), (2e6, 0.004, 8192),
    (2.1e6, 0.004, 16384), (1e9, 1.0, 1 << 16),
])
def test_rx_ring_size_holds_a_slice_of_frames(pps, seconds, size):
    assert scheduling.rx_ring_size(pps, seconds) == size
    assert size >= min(pps * seconds, scheduling.MAX_RING)
    assert size & (size - 1) == 0


def test_the_default_coalesced_ring_covers_two_million_frames_a_second():
    assert scheduling.COALESCED_RX_SIZE == scheduling.rx_ring_size(2e6)


@pytest.mark.parametrize("pps,seconds", [(0, 0.004), (-5, 0.004), (1e6, 0)])
def test_rx_ring_size_refuses_nonsense(pps, seconds):
    with pytest.raises(ConfigError, match="positive rate and time"):
        scheduling.rx_ring_size(pps, seconds)
