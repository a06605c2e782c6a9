"""The command line's numbers: every count, queue, duration and rate option
takes what it means and refuses the rest in one line (exit status 2), and
the values with a meaning beyond a plain number -- ``-d inf`` (no time
limit), ``--rate inf`` (as fast as the ring takes frames) -- work end to end.
Also what keeps the command loops from spinning or sleeping past a socket
that has failed."""

import errno
import math
import time

import pytest

from pyxsk.cli import benchmark, commands, demo, loops, replay
from pyxsk.errors import ConfigError, InterfaceGoneError, syscall_error
# nothing_left_behind: test_cli's autouse fixture (commands ended, no namespace left)
from test_cli import (ETH_P_TEST, EXIT_USAGE, FakeBatch, FakeClock, FakeTxSocket,  # noqa: F401
                      Running, nothing_left_behind, numbered_frames, packet_socket, pyxsk,
                      receive, send_raw, write_pcap)

SPIN_SECONDS = 0.3          # how long the anti-spin tests let a loop run
SPIN_CALLS = 20000          # far more than a napping loop makes in that time, far fewer
                            # than a spinning one (millions of calls per second)


def usage_error(capsys, args):
    """The one line argparse prints for ``args`` (exit status 2)."""
    with pytest.raises(SystemExit) as info:
        commands.build_parser().parse_args(args)
    assert info.value.code == EXIT_USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def parsed(args):
    return commands.build_parser().parse_args(args)


# -- counts --------------------------------------------------------------------

POSITIVE_COUNTS = [
    (["dump", "veth0"], "-c"),
    (["send", "veth0", "-r", "x.pcap"], "-b"),
    (["bench", "rxdrop"], "-b"),
    (["demo"], "--count"),
]
NOT_WHOLE = ["-1", "1.5", "1e3", "0x10", "1_000", "+5", "\u0665", "", "nan", "inf", "five"]


@pytest.mark.parametrize("command, option", POSITIVE_COUNTS, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else v)
@pytest.mark.parametrize("value", ["0"] + NOT_WHOLE)
def test_count_options_take_only_positive_whole_numbers(capsys, command, option, value):
    line = usage_error(capsys, command + [option, value])
    assert "is not a positive number" in line or "is not a number of frames" in line, line


@pytest.mark.parametrize("value", NOT_WHOLE)
def test_loop_takes_zero_and_whole_numbers_only(capsys, value):
    assert parsed(["send", "veth0", "-r", "x.pcap", "--loop", "0"]).loop == 0
    line = usage_error(capsys, ["send", "veth0", "-r", "x.pcap", "--loop", value])
    assert "is not a number >= 0" in line


@pytest.mark.parametrize("command", [["dump", "veth0"], ["send", "veth0", "-r", "x.pcap"],
                                     ["bench", "rxdrop"], ["doctor", "veth0"]],
                         ids=lambda c: c[0])
def test_queues_are_u32(capsys, command):
    """sockaddr_xdp's queue id is a __u32: a bigger number must not reach
    ctypes, which would cut it to the low 32 bits (queue 2**32 -> queue 0)."""
    assert parsed(command + ["-q", str(commands.QUEUE_MAX)]).queue == commands.QUEUE_MAX
    for value in [str(commands.QUEUE_MAX + 1), "-1", "1.0", ""]:
        assert "is not a queue number (0 to 4294967295)" in \
            usage_error(capsys, command + ["-q", value])


def test_demo_numbers_frames_in_four_bytes(capsys):
    assert parsed(["demo", "--count", str(2 ** 32)]).count == demo.MAX_COUNT
    assert "from 1 to 4294967296" in usage_error(capsys, ["demo", "--count", str(2 ** 32 + 1)])


def test_demo_refuses_a_count_before_creating_anything(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the demo built its veth pair for a count it cannot send")
    monkeypatch.setattr(demo, "temporary_veth_pair", must_not_run)
    for count in (0, 2 ** 32 + 1, 1.5, True):
        with pytest.raises(ConfigError, match="count must be an int from 1 to 4294967296"):
            demo.run(count, report=None)


# -- durations, warm-ups and rates ------------------------------------------------

@pytest.mark.parametrize("command", [["dump", "veth0"], ["bench", "rxdrop"]], ids=lambda c: c[0])
def test_durations_are_positive_and_inf_means_no_limit(capsys, command):
    assert parsed(command + ["-d", "inf"]).duration is None
    assert parsed(command + ["-d", "Infinity"]).duration is None
    assert parsed(command + ["-d", "0.25"]).duration == 0.25
    for value in ["nan", "-nan", "0", "-1", "-0.5", "-inf", "", "soon"]:
        line = usage_error(capsys, command + ["--duration=" + value])
        assert "argument -d/--duration:" in line
        assert "is not a positive number of seconds" in line or \
            "is not a number of seconds" in line, line


def test_bench_warmup_takes_zero_and_refuses_what_never_ends(capsys):
    assert parsed(["bench", "rxdrop", "--warmup", "0"]).warmup == 0.0
    assert parsed(["bench", "rxdrop", "--warmup", "1.5"]).warmup == 1.5
    for value in ["inf", "nan", "-1", "-inf", ""]:
        line = usage_error(capsys, ["bench", "rxdrop", "--warmup=" + value])
        assert "is not a finite number of seconds >= 0" in line or \
            "is not a number of seconds" in line, line


def test_send_rate_inf_means_as_fast_as_possible(capsys):
    command = ["send", "veth0", "-r", "x.pcap"]
    assert parsed(command + ["--rate", "inf"]).rate is None
    assert parsed(command + ["--rate", "0.5"]).rate == 0.5
    for value in ["nan", "0", "-1", "-inf", "", "fast"]:
        line = usage_error(capsys, command + ["--rate=" + value])
        assert "is not a positive rate" in line or "is not a rate in frames per second" in line


def test_bench_warmup_must_leave_time_to_measure():
    result = pyxsk("bench", "rxdrop", "-d", "2", "--warmup", "2")
    assert result.returncode == 1
    assert result.stderr == "pyxsk bench: error: --warmup 2 leaves nothing of --duration 2 " \
                            "to measure\n"


# -- the pacer and the replayer ------------------------------------------------------

@pytest.mark.parametrize("rate", [math.inf, math.nan, -math.inf])
def test_pacer_refuses_rates_that_are_not_finite(rate):
    with pytest.raises(ConfigError, match="finite positive"):
        replay.Pacer(rate)


def test_pacer_at_a_huge_rate_counts_frames_without_overflowing():
    fake = FakeClock()
    pacer = replay.Pacer(1e308, clock=fake.clock, sleep=fake.sleep)
    fake.now += 10.0                       # 10 s * 1e308 overflows a float to inf
    assert pacer.due(0) == 2 ** 53 + 1


def test_pacer_waits_in_slices_looking_at_the_socket_between():
    fake = FakeClock()
    looks = []
    pacer = replay.Pacer(0.01, clock=fake.clock, sleep=fake.sleep)     # one frame per 100 s
    pacer.wait(1, between=lambda: looks.append(fake.now))
    assert fake.now == pytest.approx(200.0)
    assert max(fake.sleeps) <= replay.WAIT_SLICE
    assert len(looks) == len(fake.sleeps) - 1          # not after the last slice: it is due
    pacer.wait(1, between=lambda: looks.append("late"))
    assert "late" not in looks                         # due already: no sleep, no look


def test_replayer_with_rate_inf_sends_unpaced():
    frames = [bytes([i]) * 60 for i in range(20)]
    sock = FakeTxSocket()
    replayer = replay.Replayer(sock, frames, rate=math.inf)
    assert replayer.pacer is None
    replayer.run(2)
    assert [f for batch in sock.batches for f in batch] == frames * 2


class GoneWhilePacing(FakeTxSocket):
    """A socket whose interface goes away after the first batch: its flush
    (which the replayer calls while waiting) says so."""

    def __init__(self):
        super().__init__()
        self.flushes = 0

    def flush(self, timeout):
        self.flushes += 1
        if self.batches:
            raise syscall_error(errno.ENETDOWN, "poll(AF_XDP fake)", cls=InterfaceGoneError,
                                interface="fake0")
        return 0


def test_replayer_notices_a_failed_socket_while_waiting_for_a_slow_rate():
    sock = GoneWhilePacing()
    replayer = replay.Replayer(sock, [bytes(60)] * 3, rate=0.1)        # frame 2 due after 10 s
    t0 = time.monotonic()
    with pytest.raises(InterfaceGoneError):
        replayer.run(1)
    assert time.monotonic() - t0 < replay.WAIT_SLICE * 3
    assert len(sock.batches) == 1
    done = replayer.finish(flush=False)
    assert (done.frames, done.in_flight) == (1, None)
    assert sock.flushes == 1                   # finish(flush=False) did not touch the socket


# -- loops that must not spin --------------------------------------------------------

def test_idle_naps_only_after_a_grace_of_empty_rounds():
    fake = FakeClock()
    idle = loops.Idle(clock=fake.clock, sleep=fake.sleep)
    idle.after(0)
    fake.now += loops.IDLE_GRACE / 2
    idle.after(0)
    assert fake.sleeps == []                   # a short empty spell costs nothing
    fake.now += loops.IDLE_GRACE
    idle.after(0)
    idle.after(0)
    assert fake.sleeps == [loops.IDLE_NAP, loops.IDLE_NAP]
    idle.after(3)                              # work again: no nap
    idle.after(0)
    assert len(fake.sleeps) == 2


class EmptyAtOnce:
    """A socket that answers every call at once with nothing: poll(2)
    returning at once on an fd with an error pending, completions that
    stopped coming.  Counts the calls."""

    class tx:
        size = 64

    def __init__(self):
        self.calls = 0

    def _empty(self, *args, **kwargs):
        self.calls += 1
        return 0

    discard = retransmit = forward = _empty

    def poll(self, timeout=None):
        self.calls += 1
        return False

    def recv(self, max_frames=64, timeout=None):
        self.calls += 1
        return FakeBatch()

    def send(self, frames):
        return len(frames)

    def flush(self, timeout=1.0):
        return 0


@pytest.mark.parametrize("mode", sorted(loops.MODES))
def test_bench_loops_do_not_spin_on_a_socket_that_brings_nothing(mode):
    sock = EmptyAtOnce()
    if mode == "txonly":
        loops.txonly(sock, bytes(60), SPIN_SECONDS)
    else:
        loops.MODES[mode](sock, SPIN_SECONDS)
    assert 0 < sock.calls < SPIN_CALLS


def test_txonly_refuses_a_socket_without_a_tx_ring():
    sock = EmptyAtOnce()
    sock.tx = None                              # an RX-only socket, or a closed one
    with pytest.raises(ValueError, match="TX ring"):
        loops.txonly(sock, bytes(60), SPIN_SECONDS)
    assert sock.calls == 0


def test_dump_does_not_spin_on_a_socket_that_brings_nothing():
    sock = EmptyAtOnce()
    sink = commands.DumpSink()
    commands.capture(sock, sink, duration=SPIN_SECONDS)
    assert 0 < sock.calls < SPIN_CALLS and sink.frames == 0


class SilentSource:
    """A traffic source that runs and sends nothing."""

    def failed(self):
        return None


def test_bench_waiting_for_its_source_does_not_spin(monkeypatch):
    monkeypatch.setattr(benchmark, "SOURCE_START_TIMEOUT", SPIN_SECONDS)
    sock = EmptyAtOnce()
    with pytest.raises(benchmark.BenchError, match="no frame from the traffic source"):
        benchmark._wait_for_traffic(sock, SilentSource())
    assert 0 < sock.calls < SPIN_CALLS


# -- end to end ------------------------------------------------------------------------

@pytest.mark.root
def test_dump_with_no_time_limit(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    sent = numbered_frames(a, b, 3)
    run = Running("dump", b.name, "-n", b.netns, "-d", "inf", "-c", str(len(sent)), "--filter",
                  "ether proto 0x%04x" % ETH_P_TEST)
    run.wait_for("listening on")
    send_raw(a, sent)
    status, out, err = run.finish()
    assert status == 0, err
    assert "%d frames captured" % len(sent) in err and len(out.splitlines()) == len(sent)


@pytest.mark.root
def test_send_with_rate_inf_goes_as_fast_as_the_ring_takes_frames(veth_pair, tmp_path):
    a, b = veth_pair.a, veth_pair.b
    frames = numbered_frames(a, b, 5)
    path = tmp_path / "five.pcap"
    write_pcap(path, frames)
    with packet_socket(b) as witness:
        result = pyxsk("send", a.name, "-n", a.netns, "-r", str(path), "--rate", "inf")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("sent 5 frames") and "asked" not in result.stdout
        assert receive(witness, len(frames)) == frames
