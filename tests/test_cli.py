"""The pyxsk command line, run as users run it: ``python -m pyxsk ...`` in a
subprocess, its exit status and output checked.  Frames are sent and
captured with plain AF_PACKET sockets and read back with tcpdump, so the
witnesses are independent of pyxsk.  Also the helpers the commands are built
from (frame summaries, the pacer, the interrupt guard)."""

import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

import frames as F
from minimal_prog import xdp_pass_program
from pyxsk.cli import benchmark, demo, interrupts, replay, summary
from pyxsk import bpf
from pyxsk.net import link, netns
from pyxsk.capture import pcap, pcapng
from pyxsk.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_TIMEOUT = 60.0          # seconds any one command may take before the test fails
LINE_TIMEOUT = 20.0         # seconds to wait for a line a running command prints
ETH_P_TEST = 0x88B5
RCVBUF = 16 << 20
SO_RCVBUFFORCE = 33
RECV_TIMEOUT = 5.0
EXTRA_WAIT = 0.2            # seconds to look for a frame beyond those expected
EXIT_USAGE, EXIT_FAILED, EXIT_SIGINT = 2, 1, 130
PID_MODULUS = 100000        # as pyxsk.testing.unique_name shortens pids in names

_children = []


# -- running the command ------------------------------------------------------------

def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO
    return env


def pyxsk(*args, timeout=RUN_TIMEOUT):
    """Run ``python -m pyxsk ARGS`` to its end; CompletedProcess (text)."""
    proc = subprocess.Popen([sys.executable, "-m", "pyxsk"] + list(args), cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    _children.append(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("pyxsk %s ran longer than %g s:\n%s%s" % (" ".join(args), timeout, out, err))
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class Running:
    """``python -m pyxsk ARGS`` in the background; its output read without
    buffering so :meth:`wait_for` sees a line as soon as it is printed."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "pyxsk"] + list(args), cwd=REPO,
                                     env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0)
        _children.append(self.proc)
        self.seen = {self.proc.stdout.fileno(): b"", self.proc.stderr.fileno(): b""}

    def wait_for(self, marker, timeout=LINE_TIMEOUT):
        """Read both streams until ``marker`` appears in one of them."""
        deadline = time.monotonic() + timeout
        open_fds = list(self.seen)
        while not any(marker.encode() in text for text in self.seen.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not open_fds:
                self.proc.kill()
                pytest.fail("no %r from pyxsk within %g s:\n%s" % (marker, timeout, self.output()))
            ready, _, _ = select.select(open_fds, [], [], remaining)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.remove(fd)
                self.seen[fd] += chunk

    def close_stdout(self):
        """Stop reading stdout, as ``| head`` does once it has enough."""
        del self.seen[self.proc.stdout.fileno()]
        self.proc.stdout.close()

    def finish(self, timeout=RUN_TIMEOUT):
        """Wait for the end; (exit status, stdout, stderr)."""
        seen_out = b"" if self.proc.stdout.closed else self.seen[self.proc.stdout.fileno()]
        seen_err = self.seen[self.proc.stderr.fileno()]
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail("pyxsk did not end within %g s:\n%s" % (timeout, self.output()))
        return (self.proc.returncode, (seen_out + (out or b"")).decode(),
                (seen_err + err).decode())

    def output(self):
        return b"".join(self.seen.values()).decode(errors="replace")


def namespaces_left():
    """The namespaces of the commands this test ran that still exist.
    Temporary namespaces are named after the pid of the process making them
    (pyxsk.testing.unique_name), so this looks only at what the test's own
    commands made: other processes may create and delete namespaces of
    their own meanwhile (tools/churn.py does, on purpose)."""
    pids = "|".join(str(p.pid % PID_MODULUS) for p in _children)
    if not pids:
        return []
    return [n for n in netns.names() if re.match(r"pxt(%s)[a-z]" % pids, n)]


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """After each test: every command ended, and none left a namespace."""
    del _children[:]
    yield
    running = [p for p in _children if p.poll() is None]
    for proc in running:
        proc.kill()
        proc.wait()
    assert not running, "commands still running after the test: %s" % [p.args for p in running]
    left = namespaces_left()
    assert not left, "namespaces left behind: %s" % left


def assert_one_line_error(result, status=None):
    """A user mistake: non-zero exit, exactly one line on stderr, no traceback."""
    assert result.returncode != 0, result
    if status is not None:
        assert result.returncode == status, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, "want one line, got:\n" + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith("pyxsk"), lines[0]
    return lines[0]


# -- frames and witnesses -----------------------------------------------------------

def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def numbered_frames(src, dst, count, seed=1):
    """Numbered frames of EtherType ETH_P_TEST, 60 to 1514 bytes, from ``src`` to ``dst``."""
    rng = random.Random(seed)
    head = mac_bytes(dst.mac) + mac_bytes(src.mac) + struct.pack("!H", ETH_P_TEST)
    return [head + struct.pack("!I", seq) + bytes(rng.getrandbits(8) for _ in
                                                  range(rng.randint(60, 1514) - 18))
            for seq in range(count)]



def send_raw(end, frames):
    """Send ``frames`` from ``end`` through an AF_PACKET socket."""
    with netns.entered(end.netns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    with sock:
        sock.bind((end.name, 0))
        for frame in frames:
            sock.send(frame)


def packet_socket(end, ethertype=ETH_P_TEST):
    """An AF_PACKET socket on ``end`` taking frames of ``ethertype``."""
    with netns.entered(end.netns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    sock.bind((end.name, ethertype))
    sock.settimeout(RECV_TIMEOUT)
    return sock


def receive(sock, count):
    """``count`` frames (fewer if one takes longer than RECV_TIMEOUT to
    come), then whatever else arrives within EXTRA_WAIT."""
    got = []
    for timeout in [RECV_TIMEOUT] * count + [EXTRA_WAIT]:
        sock.settimeout(timeout)
        try:
            got.append(sock.recv(65536))
        except socket.timeout:
            break
    return got


def udp_socket(end, port=None):
    with netns.entered(end.netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if port is not None:
        sock.bind((str(end.ipv4.ip), port))
    sock.settimeout(RECV_TIMEOUT)
    return sock


def quiet_ipv6(*ends):
    """Turn IPv6 off on ``ends``: no router solicitations or MLD reports to
    mix with the frames a test counts."""
    for end in ends:
        with netns.entered(end.netns):
            with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % end.name, "w") as f:
                f.write("1")


def tcpdump_frames(path):
    """The frames of pcap ``path`` as tcpdump reads them (``-xx`` hex dump)."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (.ci/run installs it)")
    out = subprocess.run(["tcpdump", "-r", str(path), "-nn", "-xx"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=RUN_TIMEOUT)
    assert out.returncode == 0, out.stderr
    frames = []
    for line in out.stdout.splitlines():
        if line.startswith("\t0x"):
            frames[-1] += bytes.fromhex("".join(line.split(":", 1)[1].split()))
        else:
            frames.append(b"")
    return frames


def xdp_state(end):
    return link.get_link(end.name, netns=end.netns).xdp


# -- help and usage (no root needed) ------------------------------------------------

HELP_MUST_SAY = {
    (): ["demo", "dump", "send", "bench", "prog", "doctor"],
    ("demo",): ["every byte", "removes everything"],
    ("dump",): ["do NOT reach the kernel", "--filter limits what is taken",
                "do not match go on to the kernel", "-w FILE", "--netns"],
    ("send",): ["-r FILE", "--loop N", "--rate PPS", "not spinning"],
    ("bench",): ["rxdrop", "rx-touch", "txonly", "l2fwd", "--duration", "--zerocopy", "--copy",
                 "--xdp-mode", "--batch", "--queue", "--coalesce", "SCHED_BATCH"],
    ("prog",): ["show", "detach"],
    ("prog", "show"): ["IFACE", "--netns"],
    ("prog", "detach"): ["IFACE", "--mode"],
    ("doctor",): ["need_wakeup", "--attach", "--zerocopy"],
}


@pytest.mark.parametrize("words", sorted(HELP_MUST_SAY), ids=lambda w: " ".join(w) or "pyxsk")
def test_help_on_every_command(words):
    result = pyxsk(*(list(words) + ["--help"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: pyxsk"), result.stdout
    assert result.stderr == ""
    flat = " ".join(result.stdout.split())
    for phrase in HELP_MUST_SAY[words]:
        assert phrase in flat, "%r not in the help of %s" % (phrase, " ".join(words))


@pytest.mark.parametrize("args, says", [
    ([], "required: COMMAND"),
    (["dump"], "required: IFACE"),
    (["dump", "veth0", "--filter", "udp sideways"], "cannot parse at 'sideways'"),
    (["dump", "veth0", "-c", "0"], "not a positive number"),
    (["dump", "veth0", "-q", "-1"], "argument -q/--queue"),
    (["dump", "a/b"], "not an interface name"),
    (["dump", "veth0", "-n", "pyxsk-no-such-ns"], "no network namespace"),
    (["send", "veth0"], "required: -r/--read"),
    (["send", "veth0", "-r", "x.pcap", "--rate", "0"], "not a positive rate"),
    (["bench", "fastest"], "invalid choice: 'fastest'"),
    (["bench", "txonly", "--size", "20"], "at least 60 bytes"),
    (["bench", "txonly", "--dst-mac", "02:00"], "not a MAC address"),
    (["demo", "--bogus"], "unrecognized arguments: --bogus"),
    (["prog", "detach"], "required: IFACE"),
])
def test_bad_command_lines_give_one_line(args, says):
    line = assert_one_line_error(pyxsk(*args), EXIT_USAGE)
    assert says in line


def test_version():
    result = pyxsk("--version")
    assert result.returncode == 0 and re.match(r"pyxsk \d+\.\d+", result.stdout)


# -- the pieces, without the kernel -------------------------------------------------

def test_summaries_name_addresses_protocols_and_ports():
    udp = F.udp4(dport=9, sport=4000, vlan=10, src="10.0.0.1", dst="10.0.0.2")
    assert summary.summarize(udp) == \
        "02:00:00:00:00:01 > 02:00:00:00:00:02, 802.1Q vlan 10, IPv4, 10.0.0.1.4000 > " \
        "10.0.0.2.9: UDP, length 96"
    assert "IPv6, 2001:db8::1.1234 > 2001:db8::2.443: TCP, length 96" in \
        summary.summarize(F.tcp6(dport=443))
    assert summary.summarize(F.arp()).endswith("> 02:00:00:00:00:02, ARP, length 96")
    assert "ethertype 0x88f7" not in summary.summarize(F.ether(F.ETH_P_1588, b""))  # PTP by name
    assert "PTP" in summary.summarize(F.ether(F.ETH_P_1588, b""))
    assert "ethertype 0x88b5" in summary.summarize(F.ether(ETH_P_TEST, b""))
    assert "802.3 length 46" in summary.summarize(F.DST_MAC + F.SRC_MAC + b"\x00\x2e" + bytes(46))
    later = F.ether(F.ETH_P_IP, F.ipv4(F.UDP, F.udp(1, 2), frag=100))
    assert "192.0.2.1 > 192.0.2.2: UDP (fragment offset 800)" in summary.summarize(later)
    assert summary.summarize(F.udp4(), timestamp=0.5).split()[0] == \
        time.strftime("%H:%M:%S", time.localtime(0)) + ".500000"


def test_summaries_of_every_truncation_never_raise():
    whole = F.udp6(vlan=7)
    for n in range(len(whole) + 1):
        line = summary.summarize(whole[:n])
        assert line.endswith("length %d" % n)
        if n < 14 + 4 + 40 + 4:
            assert "truncated" in line, line
    rng = random.Random(3)
    for _ in range(2000):
        summary.summarize(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80))))


class FakeClock:
    """time for the pacer: sleep() moves it on, and is recorded."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_holds_the_average_by_sleeping():
    fake = FakeClock()
    pacer = replay.Pacer(1000, clock=fake.clock, sleep=fake.sleep)
    sent = steps = 0
    while sent < 10000:
        steps += 1
        due = pacer.due(sent)
        if due:
            sent += min(due, 64)
            fake.now += 0.0001            # sending takes a little time
        else:
            pacer.wait(sent)
    assert all(s > 0 for s in fake.sleeps)
    assert steps < 2 * 10000 + 10                     # no spinning: at most one wait per send
    assert abs((fake.now - 100.0) - 9.999) < 0.01     # 10000 frames at 1000/s: frame i at i ms
    fake.now += 0.5                                   # a stall: the frames due meanwhile go at once
    assert pacer.due(sent) == 500


@pytest.mark.parametrize("rate", [0, -1, True, "fast"])
def test_pacer_refuses_a_rate_that_is_not_positive(rate):
    with pytest.raises(ConfigError):
        replay.Pacer(rate)


class FakeTxSocket:
    """What Replayer uses of a socket: sendall, flush and tx.size."""

    class tx:
        size = 8

    def __init__(self):
        self.batches = []

    def sendall(self, frames, timeout=None):
        self.batches.append(list(frames))
        return len(frames)

    def flush(self, timeout):
        return 0


def test_replayer_sends_every_frame_in_order_each_loop():
    frames = [bytes([i]) * (60 + i) for i in range(20)]
    sock = FakeTxSocket()
    done = replay.replay(sock, frames, loops=3)
    sent = [f for batch in sock.batches for f in batch]
    assert sent == frames * 3
    assert max(len(b) for b in sock.batches) == FakeTxSocket.tx.size
    assert (done.frames, done.bytes, done.in_flight) == (60, 3 * sum(map(len, frames)), 0)
    assert replay.replay(FakeTxSocket(), [], loops=0).frames == 0      # nothing to repeat forever


def test_replayer_refuses_a_socket_without_a_tx_ring():
    sock = FakeTxSocket()
    sock.tx = None                              # an RX-only socket, or a closed one
    with pytest.raises(ValueError, match="no TX ring"):
        replay.replay(sock, [bytes(60)])
    assert sock.batches == []


def test_demo_frames_are_rebuilt_from_their_number():
    frames = demo.NumberedFrames("02:00:00:00:00:02", "02:00:00:00:00:01")
    sizes = {len(frames.frame(seq)) for seq in range(3000)}
    assert min(sizes) == demo.MIN_FRAME and max(sizes) == demo.MAX_FRAME and len(sizes) > 1000
    tally = demo.Tally()
    window = {seq: frames.frame(seq) for seq in range(10, 14)}
    bad = bytearray(frames.frame(12))
    bad[-1] ^= 1
    for frame in (frames.frame(10), frames.frame(11), bytes(bad), frames.frame(10), F.udp4(),
                  frames.frame(99)):
        tally.take(frame, window, sent=14)
    assert (tally.intact, tally.corrupt, tally.duplicated, tally.other) == (2, 2, 1, 1)
    assert list(window) == [13]


class FakeBatch(list):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class LossyLink:
    """A fake sender and receiver for demo.exchange: what is sent comes back,
    except frame ``drop``, and frame ``flip`` with a bit flipped."""

    def __init__(self, drop, flip):
        self.drop, self.flip, self.queue = drop, flip, []

    def sendall(self, frames, timeout=None):
        for frame in frames:
            seq = struct.unpack_from("!I", frame, 14)[0]
            if seq == self.flip:
                frame = frame[:-1] + bytes([frame[-1] ^ 1])
            if seq != self.drop:
                self.queue.append(frame)

    def flush(self, timeout):
        return 0

    def recv(self, max_frames, timeout=None):
        batch, self.queue = FakeBatch(self.queue[:max_frames]), self.queue[max_frames:]
        return batch


def test_demo_counts_a_lost_and_a_corrupt_frame_and_stops(monkeypatch):
    monkeypatch.setattr(demo, "ARRIVAL_TIMEOUT", 0.01)
    fake = LossyLink(drop=5, flip=7)
    frames = demo.NumberedFrames("02:00:00:00:00:02", "02:00:00:00:00:01")
    tally, sent, _seconds = demo.exchange(fake, fake, frames, 10 * demo.WINDOW)
    assert sent == demo.WINDOW                         # the first window lost one: no more
    assert (tally.intact, tally.corrupt, tally.missing) == (demo.WINDOW - 2, 1, 1)


def test_txonly_frame_is_a_valid_udp_packet():
    frame = benchmark.udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02", 64)
    assert len(frame) == 64 and frame[12:14] == b"\x08\x00"
    assert benchmark.ipv4_checksum(frame[14:34]) == 0          # the sum over a correct header
    assert summary.describe(frame).endswith("IPv4, 192.0.2.1.9 > 192.0.2.2.9: UDP")


def test_interrupts_are_held_during_set_up_and_clean_up():
    events = []

    class Thing:
        def __enter__(self):
            os.kill(os.getpid(), signal.SIGINT)     # arrives in the middle of set-up
            events.append("entered")
            return self

        def __exit__(self, *exc):
            os.kill(os.getpid(), signal.SIGINT)     # a second Ctrl-C: ignored
            events.append("exited %s" % (exc[0].__name__ if exc[0] else None))

    saved = {signum: signal.getsignal(signum) for signum in interrupts.SIGNALS}
    interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted) as info:
            with interrupts.guarded(Thing):
                events.append("body")
        assert info.value.exit_status == EXIT_SIGINT
        assert events == ["entered", "exited Interrupted"]
    finally:
        interrupts.uninstall()
    interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                events.append("after SIGTERM")
        assert events[-1] == "after SIGTERM"
    finally:
        interrupts.uninstall()
        for signum, handler in saved.items():
            signal.signal(signum, handler)


# -- demo ---------------------------------------------------------------------------

@pytest.mark.root
def test_demo_checks_every_frame_and_removes_everything():
    result = pyxsk("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    match = re.match(r"demo passed: (\d+)/(\d+) frames intact, (\d+) packets/s, XDP "
                     r"(native \(drv\)|generic \(skb\)), (copy mode|zero-copy)", last)
    assert match, last
    assert match.group(1) == match.group(2) == str(demo.DEFAULT_COUNT) and int(match.group(3)) > 0
    assert "0 corrupt, 0 duplicated, 0 missing" in result.stdout
    assert not namespaces_left()


@pytest.mark.root
@pytest.mark.parametrize("signum, when", [
    (signal.SIGINT, "  sending"),            # mid-run
    (signal.SIGINT, "pyxsk demo: namespaces"),  # while the sockets are being made
    (signal.SIGTERM, "frames checked"),
])
def test_demo_interrupted_cleans_up(signum, when):
    run = Running("demo", "--count", "1000000000")
    run.wait_for(when)
    run.proc.send_signal(signum)
    status, out, err = run.finish()
    assert status == 128 + signum, out + err
    assert "stopped by %s after cleaning up" % signal.Signals(signum).name in err
    assert "Traceback" not in err
    # the fixture checks that the demo's namespaces are gone


# -- dump ---------------------------------------------------------------------------

@pytest.mark.root
def test_dump_writes_a_pcap_tcpdump_reads(veth_pair, tmp_path):
    a, b = veth_pair.a, veth_pair.b
    sent = numbered_frames(a, b, 25)
    path = tmp_path / "dump.pcap"
    run = Running("dump", b.name, "-n", b.netns, "-c", str(len(sent)), "-w", str(path), "--pcap",
                  "--filter", "ether proto 0x%04x" % ETH_P_TEST, "-d", str(RUN_TIMEOUT))
    run.wait_for("listening on")
    send_raw(a, sent)
    status, _out, err = run.finish()
    assert status == 0, err
    assert "%d frames captured to %s" % (len(sent), path) in err
    assert tcpdump_frames(path) == sent
    assert [p.data for p in pcap.read(str(path))] == sent
    assert xdp_state(b).attached is None           # dump took its program away


@pytest.mark.root
def test_dump_writes_pcapng_by_default(veth_pair, tmp_path):
    a, b = veth_pair.a, veth_pair.b
    sent = numbered_frames(a, b, 15)
    path = tmp_path / "dump.pcapng"
    run = Running("dump", b.name, "-n", b.netns, "-c", str(len(sent)), "-w", str(path),
                  "--filter", "ether proto 0x%04x" % ETH_P_TEST, "-d", str(RUN_TIMEOUT))
    run.wait_for("listening on")
    send_raw(a, sent)
    status, _out, err = run.finish()
    assert status == 0, err
    records = list(pcapng.read(str(path)))
    assert [r.data for r in records] == sent
    assert {(r.queue, r.comment, r.flags) for r in records} == {
        (0, "queue 0, XDP_REDIRECT to AF_XDP", pcapng.EPB_INBOUND)}
    assert [i.name for i in pcapng.interfaces(str(path))] == [b.name]
    assert tcpdump_frames(path) == sent


@pytest.mark.root
def test_dump_prints_one_line_per_frame(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    quiet_ipv6(a, b)
    sent = numbered_frames(a, b, 10)
    run = Running("dump", b.name, "--netns", b.netns, "-c", str(len(sent)))
    run.wait_for("taking every frame")
    send_raw(a, sent)
    status, out, err = run.finish()
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == len(sent), out
    for line, frame in zip(lines, sent):
        assert re.match(r"\d\d:\d\d:\d\d\.\d{6} %s > %s, ethertype 0x88b5, length %d$"
                        % (a.mac, b.mac, len(frame)), line), line
    assert xdp_state(b).attached is None


@pytest.mark.root
@pytest.mark.parametrize("output", [[], ["-w", "-"]], ids=["lines", "pcap"])
def test_dump_into_a_closed_pipe_ends_quietly(veth_pair, output):
    a, b = veth_pair.a, veth_pair.b
    run = Running(*(["dump", b.name, "-n", b.netns] + output))
    run.wait_for("listening on")
    run.close_stdout()
    send_raw(a, numbered_frames(a, b, 3))
    status, _out, err = run.finish()
    assert status == 128 + signal.SIGPIPE, err
    assert "Traceback" not in err
    assert xdp_state(b).attached is None


@pytest.mark.root
def test_dump_filter_takes_only_matching_frames(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    taken_port, kernel_port, count = 9, 7777, 5
    with udp_socket(b, taken_port) as taken, udp_socket(b, kernel_port) as kernel, \
            udp_socket(a) as sender:
        run = Running("dump", b.name, "-n", b.netns, "-c", str(count), "--filter",
                      "udp dst port %d" % taken_port)
        run.wait_for("taking only: udp and dst port 9")
        for i in range(count):
            sender.sendto(b"to dump %d" % i, (str(b.ipv4.ip), taken_port))
            sender.sendto(b"to the kernel %d" % i, (str(b.ipv4.ip), kernel_port))
        status, out, err = run.finish()
        assert status == 0, err
        lines = out.splitlines()
        assert len(lines) == count
        assert all(line.endswith("%s.%d: UDP, length %d" % (b.ipv4.ip, taken_port, 14 + 20 + 8 + 9))
                   for line in lines), out
        assert sorted(kernel.recv(100) for _ in range(count)) == \
            sorted(b"to the kernel %d" % i for i in range(count))
        taken.settimeout(0.0)
        with pytest.raises(BlockingIOError):
            taken.recv(100)                     # dump's frames never reached the kernel


# -- send ---------------------------------------------------------------------------

def write_pcap(path, frames):
    with pcap.Writer(str(path)) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, 1000.0 + i)


@pytest.mark.root
def test_send_replays_a_pcap(veth_pair, tmp_path):
    a, b = veth_pair.a, veth_pair.b
    frames = numbered_frames(a, b, 30)
    path = tmp_path / "frames.pcap"
    write_pcap(path, frames)
    with packet_socket(b) as witness:
        result = pyxsk("send", a.name, "-n", a.netns, "-r", str(path), "--loop", "2")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("sent 60 frames, %d bytes, from %s on %s queue 0"
                                        % (2 * sum(map(len, frames)), path, a.name))
        assert receive(witness, len(frames) * 2) == frames * 2


@pytest.mark.root
def test_send_replays_a_pcapng(veth_pair, tmp_path):
    a, b = veth_pair.a, veth_pair.b
    frames = numbered_frames(a, b, 20)
    path = tmp_path / "frames.pcapng"
    with pcapng.Writer(str(path), interfaces=[a.name]) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, timestamp_ns=10 ** 12 + i, comment="frame %d" % i)
    with packet_socket(b) as witness:
        result = pyxsk("send", a.name, "-n", a.netns, "-r", str(path))
        assert result.returncode == 0, result.stderr
        assert receive(witness, len(frames)) == frames


@pytest.mark.root
def test_send_at_a_rate(veth_pair, tmp_path):
    a, b = veth_pair.a, veth_pair.b
    frames = numbered_frames(a, b, 5)
    path = tmp_path / "five.pcap"
    write_pcap(path, frames)
    with packet_socket(b) as witness:
        result = pyxsk("send", a.name, "-n", a.netns, "-r", str(path), "--rate", "20")
        assert result.returncode == 0, result.stderr
        match = re.match(r"sent 5 frames, \d+ bytes, .* in ([\d.]+) s: \d+ frames/s \(asked 20\)",
                         result.stdout)
        assert match, result.stdout
        assert float(match.group(1)) >= 0.19       # the 5th frame is due 0.2 s after the 1st
        assert receive(witness, len(frames)) == frames


# -- bench --------------------------------------------------------------------------

@pytest.mark.root
@pytest.mark.parametrize("mode", benchmark.MODES)
def test_bench_on_a_veth_pair_of_its_own(mode):
    result = pyxsk("bench", mode, "-d", "1.5", timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    rate_lines = [l for l in lines if re.match(r"\s+\d+\.\d s\s+%s\s+\d+ pps\s+\d+ packets$"
                                               % mode, l)]
    assert rate_lines, result.stdout
    match = re.search(r"^%s: (\d+) packets in ([\d.]+) s: (\d+) pps \(" % mode, result.stdout,
                      re.M)
    assert match and int(match.group(1)) > 0, result.stdout
    if mode != "txonly":
        assert re.search(r"^  traffic source: .*txonly", result.stdout, re.M), result.stdout
    assert not namespaces_left()


@pytest.mark.root
def test_bench_coalesce_receives_under_sched_batch():
    result = pyxsk("bench", "rx-touch", "--coalesce", "-d", "1.5", "-b", "1024",
                   timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^rx-touch on \S+ queue 0: .*batch 1024, SCHED_BATCH with a 8192-entry "
                     r"RX ring$", result.stdout, re.M), result.stdout
    match = re.search(r"^rx-touch: (\d+) packets in", result.stdout, re.M)
    assert match and int(match.group(1)) > 0, result.stdout
    assert not namespaces_left()


def test_bench_coalesce_is_for_receivers():
    line = assert_one_line_error(pyxsk("bench", "txonly", "--coalesce"))
    assert "--coalesce is for the receiving modes" in line
    with pytest.raises(ValueError, match="for the receiving modes, not txonly"):
        benchmark.run("txonly", "no-such-interface", coalesce=True, report=None)


def test_bench_txonly_on_an_interface_needs_dst_mac_from_python_too():
    with pytest.raises(ValueError, match="needs dst_mac"):
        benchmark.run("txonly", "no-such-interface", report=lambda line: None)


PACKET_OUTGOING = 4          # sll_pkttype of a frame this host sent


@pytest.mark.root
def test_bench_l2fwd_on_an_interface_swaps_macs_and_stops_on_ctrl_c(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    sent = numbered_frames(a, b, 50)
    with packet_socket(a) as witness:
        run = Running("bench", "l2fwd", b.name, "-n", b.netns, "-d", str(RUN_TIMEOUT))
        run.wait_for("l2fwd on %s queue 0" % b.name)
        send_raw(a, sent)
        back = []
        while len(back) < len(sent):
            frame, address = witness.recvfrom(65536)      # socket.timeout fails the test
            if address[2] != PACKET_OUTGOING:
                back.append(frame)
        run.proc.send_signal(signal.SIGINT)
        status, out, err = run.finish()
    assert status == EXIT_SIGINT, out + err
    assert re.search(r"^l2fwd: interrupted (within the first second|; \d+ packets in the first)",
                     out, re.M), out
    assert back == [f[6:12] + f[:6] + f[12:] for f in sent]     # MACs swapped, nothing else
    assert xdp_state(b).attached is None


@pytest.mark.root
def test_bench_txonly_on_an_interface_wants_a_destination(veth_pair):
    line = assert_one_line_error(pyxsk("bench", "txonly", veth_pair.a.name, "-n",
                                       veth_pair.a.netns))
    assert "needs --dst-mac" in line


# -- prog ---------------------------------------------------------------------------

@pytest.mark.root
@pytest.mark.parametrize("mode", ["drv", "skb"])
def test_prog_show_and_detach(veth_pair, mode):
    b = veth_pair.b
    with xdp_pass_program() as (fd, prog_id), bpf.prog_by_id(prog_id) as prog:
        link.attach_xdp(b.name, fd, mode=mode, netns=b.netns)
        shown = pyxsk("prog", "show", b.name, "-n", b.netns)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == "%s: XDP program id %d, mode %s (%s), name pyxsk_pass, tag %s, " \
                               "0 maps\n" % (b.name, prog_id, mode, summary.XDP_MODE_WORDS[mode],
                                             prog.tag)
        detached = pyxsk("prog", "detach", b.name, "-n", b.netns)
        assert detached.returncode == 0, detached.stderr
        assert detached.stdout == "%s: detached XDP program id %d (mode %s)\n" % (b.name, prog_id,
                                                                                 mode)
        assert xdp_state(b).attached is None
    again = pyxsk("prog", "show", b.name, "-n", b.netns)
    assert again.stdout == "%s: no XDP program attached\n" % b.name
    nothing = pyxsk("prog", "detach", b.name, "-n", b.netns)
    assert nothing.returncode == 0 and "nothing to detach" in nothing.stdout


@pytest.mark.root
def test_prog_detach_leaves_a_bpf_link_alone_and_says_why(veth_pair):
    b = veth_pair.b
    with xdp_pass_program() as (fd, prog_id):
        with netns.entered(b.netns):
            held = bpf.link_xdp(fd, b.name, 0)
        with held:
            line = assert_one_line_error(pyxsk("prog", "detach", b.name, "-n", b.netns))
            assert "held by a BPF link" in line
            assert xdp_state(b).prog_id == prog_id
    assert xdp_state(b).attached is None


# -- doctor -------------------------------------------------------------------------

FEATURES = ["AF_XDP sockets", "eBPF XDP programs", "mmap offsets layout", "unaligned chunks",
            "XDP_MAX_TX_SKB_BUDGET", "bind (copy mode)", "need_wakeup", "XDP_OPTIONS",
            "zero-copy", "shared UMEM", "multi-buffer (XDP_USE_SG)", "native XDP",
            "generic XDP", "bpf_link"]


def findings(stdout):
    """{feature: (status, rest of the line)} from doctor's output."""
    out = {}
    for line in stdout.splitlines():
        for feature in FEATURES:
            match = re.match(r"(ok|no|skip)\s+%s\s+(.*)" % re.escape(feature), line)
            if match:
                out[feature] = match.groups()
    return out


@pytest.mark.root
def test_doctor_on_a_veth_pair_of_its_own():
    result = pyxsk("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    found = findings(result.stdout)
    assert sorted(found) == sorted(FEATURES), result.stdout
    assert found["zero-copy"][0] == "no" and "veth has none" in found["zero-copy"][1]
    assert "-> pyxsk binds in copy mode" in found["zero-copy"][1]
    assert found["native XDP"][0] == found["generic XDP"][0] == "ok"
    assert "across queues" in found["shared UMEM"][1]
    assert result.stdout.rstrip().endswith("pyxsk can work here")
    assert not namespaces_left()


@pytest.mark.root
def test_doctor_on_an_interface_does_not_disturb_it(veth_pair):
    b = veth_pair.b
    result = pyxsk("doctor", b.name, "-n", b.netns)
    assert result.returncode == 0, result.stdout + result.stderr
    found = findings(result.stdout)
    assert sorted(found) == sorted(FEATURES), result.stdout
    for feature in ("native XDP", "generic XDP", "bpf_link"):
        assert found[feature][0] == "skip" and "ask with --attach" in found[feature][1]
    assert found["zero-copy"][0] == "skip" and "ask with --zerocopy" in found["zero-copy"][1]
    assert xdp_state(b).attached is None
    asked = findings(pyxsk("doctor", b.name, "-n", b.netns, "--attach", "--zerocopy").stdout)
    assert asked["native XDP"][0] == asked["bpf_link"][0] == "ok"
    assert asked["zero-copy"][0] == "no"
    assert xdp_state(b).attached is None


@pytest.mark.root
def test_doctor_on_a_queue_the_interface_lacks_says_so(make_veth_pair):
    """The kernel refuses a bind to a missing queue with EINVAL, like many
    other refusals: doctor must not conclude that pyxsk cannot work."""
    b = make_veth_pair(queues=2).b
    result = pyxsk("doctor", b.name, "-n", b.netns, "-q", "999")
    line = assert_one_line_error(result, EXIT_FAILED)
    assert line == "pyxsk doctor: error: %s has no queue 999: it has 2 in use (queues 0-1)" \
        % b.name
    assert "cannot work" not in result.stdout
    assert xdp_state(b).attached is None


@pytest.mark.root
def test_doctor_and_dump_leave_an_attached_program_alone(veth_pair):
    b = veth_pair.b
    with xdp_pass_program() as (fd, prog_id):
        link.attach_xdp(b.name, fd, mode="drv", netns=b.netns)
        line = assert_one_line_error(pyxsk("dump", b.name, "-n", b.netns), EXIT_FAILED)
        assert "already has XDP program %d in drv mode" % prog_id in line
        result = pyxsk("doctor", b.name, "-n", b.netns, "--attach")
        assert result.returncode == 0, result.stdout + result.stderr
        found = findings(result.stdout)
        assert found["native XDP"] == ("ok", "%s has a program in drv mode" % b.name)
        assert found["bpf_link"][0] == "skip" and "not touched" in found["bpf_link"][1]
        assert xdp_state(b).drv_prog_id == prog_id
        link.detach_xdp(b.name, mode="drv", netns=b.netns)


# -- user mistakes that need the system to notice ---------------------------------------

@pytest.mark.root
def test_mistakes_give_one_line_and_no_traceback(veth_pair, tmp_path):
    a = veth_pair.a
    not_pcap = tmp_path / "notes.txt"
    not_pcap.write_text("not a capture\n" * 3)
    broken = tmp_path / "new.pcapng"          # a pcapng block type, then no byte-order magic
    broken.write_bytes(struct.pack("<I", pcap.MAGIC_PCAPNG) + bytes(40))
    empty = tmp_path / "empty.pcap"
    write_pcap(empty, [])
    cases = [
        (["dump", "pxnosuch0"], "no interface 'pxnosuch0'"),
        (["dump", "pxnosuch0", "-n", a.netns], "no interface 'pxnosuch0' in network namespace"),
        (["send", a.name, "-n", a.netns, "-r", str(tmp_path / "missing.pcap")],
         "missing.pcap: No such file or directory"),
        (["send", a.name, "-n", a.netns, "-r", str(not_pcap)], "not a pcap file"),
        (["send", a.name, "-n", a.netns, "-r", str(broken)], "pcapng: byte-order magic 00000000 is neither"),
        (["send", a.name, "-n", a.netns, "-r", str(empty)], "holds no frames"),
        (["prog", "show", "pxnosuch0"], "no interface"),
        (["doctor", "--attach"], "go with an interface"),
        (["bench", "rxdrop", "-n", a.netns], "--netns goes with an interface"),
        (["dump", a.name, "-n", a.netns, "-q", "7"], "queue id beyond"),
        (["dump", a.name, "-n", a.netns, "--zerocopy"], "no zero-copy support"),
    ]
    for args, says in cases:
        line = assert_one_line_error(pyxsk(*args), EXIT_FAILED)
        assert says in line, (args, line)
    assert xdp_state(a).attached is None
