"""Faults a demanding user causes: bad counts and timeouts, an interface
deleted under a live socket, frames the kernel would drop in silence, a
socket left unclosed, fork(), and two threads on one socket.  Each ends in a
clear outcome, and the ledger (``umem.check()``) stays exact throughout."""

import asyncio
import atexit
import gc
import math
import os
import struct
import subprocess
import sys
import threading
import time
import warnings

import pytest

from fakekernel import FakeKernel, deliver_rx, take_fill, take_tx
from traffic import Capture, inject, is_test_frame, make_frames, mac_bytes, receive
from pyxsk import aio, xsk as xsk_module
from pyxsk.net import link, netns
from pyxsk.errors import ConfigError, InheritedSocketError, InterfaceGoneError
from pyxsk.umem import Umem
from pyxsk.xsk import Socket, check_count, check_timeout
from pyxsk.xsksocket import XskSocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GONE_WITHIN = 2.0        # seconds: the bound for noticing a deleted interface


@pytest.fixture
def kernel(monkeypatch):
    return FakeKernel("6.18").install(monkeypatch)


def _ring_state(sock):
    return (sock.rx.cached_cons, sock.rx.shared_consumer(), sock.pool.fill.shared_producer())


# -- counts and timeouts --------------------------------------------------------

BAD_COUNTS = [(-1, ValueError), (0, ValueError), (-5, ValueError), (1.5, TypeError),
              (True, TypeError), ("8", TypeError)]


@pytest.mark.parametrize("value,error", BAD_COUNTS)
def test_bad_counts_raise_before_any_ring_is_touched(kernel, value, error):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        deliver_rx(sock, [(a, 60) for a in take_fill(sock.pool, 4)])
        before, state = len(kernel.calls), _ring_state(sock)
        for call in (lambda: sock.recv(value, 0), lambda: sock.recv_bytes(value, 0),
                     lambda: sock.discard(value), lambda: sock.retransmit(60, value)):
            with pytest.raises(error, match="max_frames"):
                call()
        assert kernel.calls[before:] == [] and _ring_state(sock) == state
        sock.umem.check()
        assert len(sock.recv(64, 0)) == 4        # the frames are all still there


@pytest.mark.parametrize("value,error,message", [
    (float("nan"), ValueError, "NaN"), (-1, ValueError, ">= 0"), (-0.5, ValueError, ">= 0"),
    ("1", TypeError, "number of seconds"), (True, TypeError, "number of seconds")])
def test_bad_timeouts_raise_before_any_ring_is_touched(kernel, value, error, message):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        deliver_rx(sock, [(a, 60) for a in take_fill(sock.pool, 2)])
        before, state = len(kernel.calls), _ring_state(sock)
        for call in (lambda: sock.recv(1, value), lambda: sock.recv_bytes(1, value),
                     lambda: sock.poll(value), lambda: sock.flush(value),
                     lambda: sock.sendall([bytes(60)], value)):
            with pytest.raises(error, match=message):
                call()
        assert kernel.calls[before:] == [] and _ring_state(sock) == state
        sock.umem.check()


def test_timeout_values_mean_what_selectors_mean():
    assert check_timeout(None) is None
    assert check_timeout(math.inf) is None
    assert check_timeout(0) == 0.0 and check_timeout(0.25) == 0.25 and check_timeout(3) == 3.0
    assert check_count(None, "n", none_ok=True) is None and check_count(7, "n") == 7
    with pytest.raises(TypeError, match="or None"):
        check_count("x", "n", none_ok=True)


def test_an_infinite_timeout_blocks_until_frames_arrive(kernel, monkeypatch):
    polled = []

    def poll(fds, timeout, call="poll"):
        polled.append(timeout)
        if len(polled) == 3:                       # frames arrive during the third wait
            deliver_rx(sock, [(a, 60) for a in take_fill(sock.pool, 2)])
        return 0

    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        monkeypatch.setattr(kernel, "poll", poll)
        monkeypatch.setattr(xsk_module._libc, "poll", poll)
        batch = sock.recv(8, math.inf)
        assert len(batch) == 2
        assert polled == [xsk_module.GONE_CHECK_SECONDS] * 3     # sliced, never "forever"


def test_send_wants_a_list_of_bytes_like_frames(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        with pytest.raises(TypeError, match=r"not a single bytes: send\(\[frame\]\)"):
            sock.send(bytes(60))
        with pytest.raises(TypeError, match="iterable of bytes-like objects, not int"):
            sock.send(60)
        with pytest.raises(TypeError, match="frame 1 is a int, not a bytes-like object .nor one with __bytes__"):
            sock.send([bytes(60), 60])
        assert sock.send(bytes(60) for _ in range(3)) == 3
        sock.umem.check()


# -- frames the kernel would drop in silence --------------------------------------

def _tagged(size):
    return bytes(12) + b"\x81\x00" + bytes(size - 14)


def test_frames_outside_what_the_interface_carries_are_refused_whole(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        assert sock.mtu == 1500 and sock.max_frame == 1514
        prod = sock.tx.shared_producer()
        for frames, message in (([bytes(13)], "frame 0 is 13 bytes: shorter than an Ethernet"),
                                ([bytes(60), bytes(3000)], "frame 1 is 3000 bytes: .* at most 1514"),
                                ([bytes(1515)], "MTU 1500"),
                                ([bytes(60), _tagged(1519)], "frame 1 is 1519"),
                                ([bytes(12) + b"\x08\x00" + bytes(1504)], "frame 0 is 1518")):
            with pytest.raises(ConfigError, match=message):
                sock.send(frames)
            with pytest.raises(ConfigError, match=message):
                sock.sendall(frames, timeout=1)
        assert sock.tx.shared_producer() == prod
        assert sock.umem.check().pools["fake7/0"].tx == 0
        assert sock.send([bytes(14), bytes(1514), _tagged(1518)]) == 3


def test_a_grown_mtu_is_read_again_before_refusing(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        kernel.mtu = 3000
        assert sock.send([bytes(3014)]) == 1          # re-read: 3000 + 14 fits
        kernel.mtu = 1500
        sock._mtu_expires = 0                          # as after MTU_RECHECK_SECONDS
        with pytest.raises(ConfigError, match="at most 1514"):
            sock.send([bytes(3014)])


# -- small messages ---------------------------------------------------------------

def test_calls_after_close_say_the_socket_is_closed(kernel):
    sock = Socket(7, 0, rx_size=64, tx_size=64)
    sock.close()
    for call in (sock.in_flight, sock.flush, sock.complete, sock.check_interface,
                 lambda: sock.discard(), lambda: sock.retransmit(60)):
        with pytest.raises(ValueError, match="closed AF_XDP socket"):
            call()


# -- the real kernel ----------------------------------------------------------------

def _delete_later(end, delay=0.3):
    """Delete veth end ``end`` from another thread after ``delay`` seconds;
    returns a function giving the time of the deletion."""
    done = []

    def run():
        time.sleep(delay)
        subprocess.run(["ip", "-n", end.netns, "link", "del", end.name], check=True)
        done.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def deleted_at():
        thread.join(10)
        return done[0]
    return deleted_at


def _open_xsk(end, **options):
    with netns.entered(end.netns):
        return XskSocket(end.name, 0, **options)


def _assert_gone_soon(call, deleted_at, name):
    try:
        with pytest.raises(InterfaceGoneError) as caught:
            call()
    finally:
        deleted_at()
    lag = time.monotonic() - deleted_at()
    assert lag < GONE_WITHIN, "noticed %.2f s after the deletion" % lag
    assert "interface %s (index" % name in str(caught.value)
    assert "is gone" in str(caught.value) and "not bound" not in str(caught.value)
    assert caught.value.errno == 100    # ENETDOWN


@pytest.mark.root
@pytest.mark.parametrize("how", ["recv-block", "recv-timeout", "recv-poll", "discard",
                                 "poll", "iterate", "asyncio"])
def test_every_wait_ends_when_the_interface_is_deleted(veth_pair, how):
    end = veth_pair.b
    umem = Umem(4096)
    sock = _open_xsk(end, umem=umem)
    try:
        frames = make_frames(veth_pair.a, end, 5)
        inject(veth_pair.a, frames)
        assert receive(sock, 5) == frames
        deleted_at = _delete_later(end)
        deadline = time.monotonic() + 10

        def loop(step):
            while time.monotonic() < deadline:
                step()

        # frames of the kernel's own (IPv6 neighbour discovery) may still
        # arrive before the deletion: every call loops until it raises
        calls = {
            "recv-block": lambda: loop(lambda: sock.recv(64, None)),
            "recv-timeout": lambda: loop(lambda: sock.recv(64, 0.05)),
            "recv-poll": lambda: loop(lambda: sock.recv(64, 0)),
            "discard": lambda: loop(lambda: sock.discard(64)),
            "poll": lambda: loop(lambda: sock.poll(math.inf) and sock.discard()),
            "iterate": lambda: [f for f in sock],
            "asyncio": lambda: asyncio.run(_all_frames(sock, deadline)),
        }
        _assert_gone_soon(calls[how], deleted_at, end.name)
    finally:
        sock.close()
    ledger = umem.check()          # close() still gave back every chunk
    assert ledger.free == ledger.total and not ledger.pools
    umem.close()


async def _all_frames(sock, deadline):
    async for _ in aio.frames(sock):
        if time.monotonic() > deadline:
            return


@pytest.mark.root
@pytest.mark.parametrize("how", ["send", "sendall", "flush", "retransmit"])
def test_sending_ends_when_the_interface_is_deleted(veth_pair, how):
    end = veth_pair.a
    frame = make_frames(end, veth_pair.b, 1)[0]
    umem = Umem(256)
    with netns.entered(end.netns):
        sock = Socket(end.name, 0, rx_size=0, tx_size=64, umem=umem)
    try:
        assert sock.send([frame] * 8) == 8 and sock.flush(5) == 0
        deleted_at = _delete_later(end)
        deadline = time.monotonic() + 10

        def loop(step):
            while time.monotonic() < deadline:
                step()
                time.sleep(0.001)

        calls = {
            "send": lambda: loop(lambda: sock.send([frame] * 4)),
            "sendall": lambda: loop(lambda: sock.sendall([frame] * 100, timeout=None)),
            "flush": lambda: loop(lambda: sock.flush(None)),
            "retransmit": lambda: loop(lambda: sock.retransmit(len(frame), 8)),
        }
        _assert_gone_soon(calls[how], deleted_at, end.name)
    finally:
        sock.close()
    ledger = umem.check()
    assert ledger.free == ledger.total and not ledger.pools
    umem.close()


@pytest.mark.root
def test_lengths_against_the_real_mtu(veth_pair):
    """The kernel's own answer for frames pyxsk lets through: all of them
    arrive at the peer, tagged 1518 included; and a lowered MTU is noticed."""
    a, b = veth_pair.a, veth_pair.b
    head = mac_bytes(b.mac) + mac_bytes(a.mac)
    frames = [head + b"\x88\xb5" + struct.pack("!I", n) + bytes(n - 18) for n in (18, 60, 1514)]
    tagged = head + b"\x81\x00\x00\x05\x88\xb5" + bytes(1518 - 18)
    cap = Capture(b, 3, timeout=5)
    with netns.entered(a.netns):
        sock = Socket(a.name, 0, rx_size=0, tx_size=64)
    with sock:
        assert sock.max_frame == 1514
        assert sock.send(frames + [tagged]) == 4 and sock.flush(5) == 0
        assert sorted(len(f) for f in cap.wait()) == [18, 60, 1514]
        with pytest.raises(ConfigError, match="at most 1514"):
            sock.send([frames[2] + b"x"])
        subprocess.run(["ip", "-n", a.netns, "link", "set", a.name, "mtu", "1400"], check=True)
        sock._mtu_expires = 0          # as MTU_RECHECK_SECONDS later
        with pytest.raises(ConfigError, match="at most 1414 .MTU 1400"):
            sock.send([frames[2]])
        sock.umem.check()


_UNCLOSED = r"""
import sys
sys.path.insert(0, %r)
from pyxsk.net import netns
from pyxsk.xsksocket import XskSocket
with netns.entered(sys.argv[1]):
    xsk = XskSocket(sys.argv[2], 0, xdp_mode="skb")
print(xsk.program.id, flush=True)
"""


def _attached(end):
    return link.get_link(end.name, netns=end.netns).xdp.prog_ids()


@pytest.mark.root
def test_a_program_that_exits_without_close_leaves_nothing_attached(veth_pair):
    end = veth_pair.b
    run = subprocess.run([sys.executable, "-c", _UNCLOSED % ROOT, end.netns, end.name],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) > 0
    assert _attached(end) == {}
    with _open_xsk(end) as again:          # the queue is free too
        assert again.xdp_mode


@pytest.mark.root
def test_an_unclosed_socket_warns_and_cleans_up_when_collected(veth_pair):
    end = veth_pair.b
    sock = _open_xsk(end, xdp_mode="skb")
    assert _attached(end) == {"skb": sock.program.id}
    text = repr(sock)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        del sock
        gc.collect()
    assert [str(w.message) for w in seen if w.category is ResourceWarning] == ["unclosed " + text]
    assert _attached(end) == {}


# -- fork() ----------------------------------------------------------------------------

def _in_child(body):
    """Run ``body`` in a forked child; its exit status: 0 if it returned,
    1 with the traceback on stderr if it raised."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
                else status >> 8
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the child did not finish")


def _next_test_frame(sock, timeout=5.0):
    """The next batch of one frame that is a test frame (the kernel's own
    IPv6 frames are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = sock.recv(1, 0.2)
        if batch and is_test_frame(batch[0]):
            return batch
    raise AssertionError("no test frame within %s s" % timeout)


@pytest.mark.root
@pytest.mark.parametrize("bpf_link", [False, True])
def test_a_forked_child_cannot_disturb_the_parents_socket(veth_pair, bpf_link):
    a, b = veth_pair.a, veth_pair.b
    sock = _open_xsk(b, bpf_link=bpf_link)
    with sock:
        first = make_frames(a, b, 10)
        inject(a, first)
        assert [bytes(_next_test_frame(sock)[0]) for _ in range(5)] == first[:5]
        held = _next_test_frame(sock)      # a batch alive across the fork
        prog = sock.program.id

        def child():
            for call in (lambda: sock.recv(1, 0), lambda: sock.send([bytes(60)]),
                         lambda: sock.discard(), sock.flush, lambda: sock.poll(0),
                         sock.counts, held.release):
                try:
                    call()
                except InheritedSocketError:
                    continue
                raise AssertionError("%r worked in the child" % call)
            sock.close()
            assert sock.closed

        assert _in_child(child) == 0
        assert _attached(b) == {sock.xdp_mode: prog}
        assert 0 in sock.xskmap                  # the slot is still the parent's
        assert held.tobytes() + receive(sock, 4) == first[5:]
        more = make_frames(a, b, 20, seed=5)
        inject(a, more)
        assert receive(sock, 20) == more
        sock.umem.check()
    assert _attached(b) == {}


@pytest.mark.root
def test_a_child_that_exits_normally_leaves_the_parents_program(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    with _open_xsk(b, xdp_mode="skb") as sock:
        pid = os.fork()
        if pid == 0:                      # exit as a script does: the atexit handlers run
            try:
                atexit._run_exitfuncs()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert _attached(b) == {"skb": sock.program.id}
        frames = make_frames(a, b, 10)
        inject(a, frames)
        assert receive(sock, 10) == frames


# -- threads ------------------------------------------------------------------------------

def _two_senders(sock, frame, sends):
    counts, errors = [0, 0], []

    def run(k):
        try:
            for _ in range(sends):
                counts[k] += sock.send([frame])
        except BaseException as e:       # noqa: B902 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a sender hangs"
    assert not errors, errors
    return counts


@pytest.mark.root
def test_two_threads_sending_on_one_socket_keep_the_ledger(veth_pair):
    """The issue's stress: 100 runs of two threads x 20 000 sends (CI runs
    fewer on the extra interpreters: PYXSK_THREAD_RUNS)."""
    runs = int(os.environ.get("PYXSK_THREAD_RUNS", "100"))
    a, b = veth_pair.a, veth_pair.b
    frame = make_frames(a, b, 1, sizes=(60, 60))[0]
    with netns.entered(a.netns):
        sock = Socket(a.name, 0, rx_size=0, tx_size=256, num_frames=512)
    with sock:
        for run in range(runs):
            counts = _two_senders(sock, frame, 20000)
            assert sock.flush(5) == 0
            ledger = sock.umem.check()
            pool = ledger.pools["%s/0" % a.name]
            assert pool.tx == pool.completion == 0
            assert ledger.free + pool.spare == ledger.total, (run, counts, ledger)
            assert sum(counts) > 0


@pytest.mark.root
def test_one_thread_receives_while_another_sends(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    frames = make_frames(a, b, 3000, sizes=(60, 200))
    sock = _open_xsk(b)
    reply = make_frames(b, a, 1)[0]
    with sock:
        got, sent = [], [0]

        def sender():
            deadline = time.monotonic() + 20
            while sent[0] < 3000 and time.monotonic() < deadline:
                sent[0] += sock.send([reply] * 10)

        t = threading.Thread(target=sender)
        t.start()
        for i in range(0, len(frames), 500):      # no more than the RX ring holds
            inject(a, frames[i:i + 500])
            got += receive(sock, 500, timeout=10)
        t.join(30)
        assert got == frames and sent[0] >= 3000
        assert sock.flush(5) == 0
        sock.umem.check()


class _Packet:
    """What scapy's packets offer: ``bytes(packet)``, and no buffer."""

    def __init__(self, data):
        self.data = data

    def __bytes__(self):
        return self.data


def test_send_takes_objects_that_convert_to_bytes(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        frames = [bytes(60), _Packet(b"\x02" * 70), _Packet(b"\x03" * 80)]
        assert sock.send(frames) == 3
        assert isinstance(frames[1], _Packet)          # the caller's list is left as it was
        sent = take_tx(sock, 3)
        assert [(n, bytes(sock.umem.view[a:a + 1])) for a, n in sent] == \
            [(60, b"\x00"), (70, b"\x02"), (80, b"\x03")]
        with pytest.raises(ConfigError, match="frame 0 is 10 bytes"):
            sock.send([_Packet(bytes(10))])


@pytest.mark.parametrize("queue", [-1, 2 ** 32, 2 ** 40, True, 1.0])
def test_a_queue_beyond_sockaddr_xdps_u32_is_refused(kernel, queue):
    """ctypes would cut 2**32 to queue 0 silently and bind there."""
    with pytest.raises(ConfigError, match="queue must be an int from 0 to 2..32 - 1"):
        Socket(7, queue, rx_size=64, tx_size=64)
    assert kernel.calls == []
