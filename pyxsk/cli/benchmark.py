"""``pyxsk bench``: the loops of :mod:`pyxsk.cli.loops` on an interface, or on a
veth pair of their own with a traffic source, reported like xdpsock.

With an interface, the benchmark runs there and something else supplies the
traffic (for the receiving modes).  Without one it creates two namespaces and
a veth pair (:func:`pyxsk.testing.temporary_veth_pair`); the receiving modes
run on end B while a child process, ``python3 -m pyxsk bench txonly`` on end
A, sends to it; txonly sends from end A into B's kernel stack, which drops the
frames.  The child is stopped, and everything removed, when the run ends or is
interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Callable, List, NamedTuple, Optional

from . import interrupts, loops, probe
from ..net import link, netns
from .. import scheduling
from .summary import socket_modes, statistics
from ..testing import temporary_veth_pair
from ..xsk import DEFAULT_RING_SIZE, Socket

if TYPE_CHECKING:
    from ..testing import VethEnd

Report = Callable[[str], object]
"""Where a run's lines go: ``print`` by default."""

MODES = ("rxdrop", "rx-touch", "txonly", "l2fwd")
DEFAULT_SECONDS = 10.0
DEFAULT_BATCH = 64             # xdpsock's default
DEFAULT_SIZE = 64              # bytes per txonly frame, as xdpsock's default (no FCS)
MIN_SIZE = 60                  # the shortest Ethernet frame without FCS
SOURCE_START_TIMEOUT = 10.0    # seconds for the child source's first frame (interpreter start)
SOURCE_MARGIN = 5.0            # the child stops on its own this long after the run should end
SOURCE_STOP_TIMEOUT = 5.0      # seconds between SIGINT and SIGKILL for the child
FIRST_FRAME_POLL = 0.1

# the txonly frame: IPv4/UDP between documentation addresses (RFC 5737), discard port
SRC_IP, DST_IP = "192.0.2.1", "192.0.2.2"
UDP_PORT = 9
ETH_P_IP = 0x0800
IPV4_VERSION_IHL = 0x45        # version 4, 5 words of header
IP_TTL = 64
IPPROTO_UDP = 17
ETH_HLEN, IPV4_HLEN, UDP_HLEN = 14, 20, 8
IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
IPV4_CHECKSUM_OFF = 10
_U16_BITS = 16
UDP_HEADER = struct.Struct("!HHHH")
_U16 = 0xFFFF



class Summary(NamedTuple):
    """A run's outcome: its :class:`~pyxsk.cli.loops.Result`, ``where`` it ran,
    the socket's ``modes`` and XDP ``statistics`` in words, and the traffic
    source's own summary line (None: no source of its own)."""
    result: loops.Result
    where: str
    modes: str
    statistics: str
    source: Optional[str]


class BenchError(RuntimeError):
    """The benchmark could not run as asked (no traffic from the source...)."""


def ipv4_checksum(header: bytes) -> int:
    """RFC 791: the ones' complement of the ones' complement sum of the
    header's 16-bit words (with the checksum field zero)."""
    total: int = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total >> _U16_BITS:
        total = (total & _U16) + (total >> _U16_BITS)
    return ~total & _U16


def udp_frame(src_mac: str, dst_mac: str, size: int = DEFAULT_SIZE) -> bytes:
    """An IPv4/UDP frame of ``size`` bytes from ``src_mac`` to ``dst_mac``
    (192.0.2.1:9 -> 192.0.2.2:9, zero payload, UDP checksum 0 = none)."""
    if size < MIN_SIZE:
        raise ValueError("a frame has at least %d bytes, not %d" % (MIN_SIZE, size))
    payload = bytes(size - ETH_HLEN - IPV4_HLEN - UDP_HLEN)
    udp = UDP_HEADER.pack(UDP_PORT, UDP_PORT, UDP_HLEN + len(payload), 0)
    ip = IPV4_HEADER.pack(IPV4_VERSION_IHL, 0, IPV4_HLEN + len(udp) + len(payload), 0, 0, IP_TTL,
                          IPPROTO_UDP, 0, socket.inet_aton(SRC_IP), socket.inet_aton(DST_IP))
    checksum = struct.pack("!H", ipv4_checksum(ip))
    ip = ip[:IPV4_CHECKSUM_OFF] + checksum + ip[IPV4_CHECKSUM_OFF + len(checksum):]
    return (link.parse_mac(dst_mac) + link.parse_mac(src_mac) + struct.pack("!H", ETH_P_IP)
            + ip + udp + payload)


def rate_line(elapsed: float, packets: int, pps: float, mode: str) -> str:
    return "%7.1f s  %-8s %10d pps %13d packets" % (elapsed, mode, pps, packets)


# -- the traffic source -----------------------------------------------------------

def _package_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TrafficSource:
    """A child ``python3 -m pyxsk bench txonly`` sending to ``dst_mac`` from
    ``end`` (a VethEnd) for at most ``seconds`` (None: until :meth:`stop`);
    stopped by :meth:`stop`."""

    def __init__(self, end: VethEnd, dst_mac: str, seconds: Optional[float],
                 size: int = DEFAULT_SIZE) -> None:
        env = dict(os.environ)
        parent = _package_parent()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (parent, env.get("PYTHONPATH")) if p)
        self.command: List[str] = [sys.executable, "-m", "pyxsk", "bench", "txonly", end.name,
                        "--netns", end.netns, "--dst-mac", dst_mac, "--size", str(size),
                        "--duration", "inf" if seconds is None else "%r" % seconds]
        self.process: subprocess.Popen[str] = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env,
                                        universal_newlines=True)
        self.output = self.errors = ""
        self._stopped = False

    def failed(self) -> Optional[str]:
        """The child's error line if it has exited, else None."""
        if self.process.poll() is None:
            return None
        self.stop()
        lines = self.errors.strip().splitlines()
        return lines[-1] if lines else "exit status %d" % self.process.returncode

    def stop(self) -> None:
        """SIGINT, then SIGKILL if it does not end in time; collects its output.
        Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, err = self.process.communicate(timeout=SOURCE_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        self.output += out or ""
        self.errors += err or ""

    def summary(self) -> str:
        """The child's last line of output (its own summary)."""
        lines = self.output.strip().splitlines()
        return lines[-1] if lines else ""

    def __enter__(self) -> TrafficSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_for_traffic(xsk: Socket, source: TrafficSource) -> None:
    deadline = time.monotonic() + SOURCE_START_TIMEOUT
    idle = loops.Idle()
    while not xsk.poll(FIRST_FRAME_POLL):
        idle.after(0)
        problem = source.failed()
        if problem is not None:
            raise BenchError("the traffic source stopped: %s" % problem)
        if time.monotonic() >= deadline:
            raise BenchError("no frame from the traffic source within %g s" % SOURCE_START_TIMEOUT)


# -- the runs -----------------------------------------------------------------------

def _open(mode: str, interface: str, queue: int, xdp_mode: str, zerocopy: Optional[bool],
          coalesce: bool = False) -> Socket:
    if mode == "txonly":
        return Socket(interface, queue, rx_size=0, zerocopy=zerocopy)
    rx_size = scheduling.COALESCED_RX_SIZE if coalesce else DEFAULT_RING_SIZE
    return probe.xsk_with_link(interface, queue, xdp_mode=xdp_mode, zerocopy=zerocopy,
                               rx_size=rx_size, tx_size=DEFAULT_RING_SIZE if mode == "l2fwd" else 0)


def _setup(sock: Socket, batch: int, coalesce: bool) -> str:
    """What the run line says about the socket and the loop."""
    text = "%s, batch %d" % (socket_modes(sock), batch)
    if coalesce and sock.rx is not None:
        text += ", SCHED_BATCH with a %d-entry RX ring" % sock.rx.size
    return text


def _open_in(end: VethEnd, mode: str, interface: str, queue: int, xdp_mode: str,
             zerocopy: Optional[bool], coalesce: bool = False) -> Socket:
    with netns.entered(end.netns):
        return _open(mode, interface, queue, xdp_mode, zerocopy, coalesce)


class Progress:
    """The ``progress`` callback of the loops: a rate line to ``report``,
    and the last one kept, to say how far a run got when it is interrupted."""

    def __init__(self, mode: str, report: Report) -> None:
        self.mode, self.report = mode, report
        self.elapsed: float = 0
        self.packets = 0

    def __call__(self, elapsed: float, packets: int, pps: float) -> None:
        self.elapsed, self.packets = elapsed, packets
        self.report(rate_line(elapsed, packets, pps, self.mode))


def _loop(mode: str, sock: Socket, seconds: Optional[float], batch: int, warmup: float,
          frame: Optional[bytes], progress: Progress, coalesce: bool = False) -> loops.Result:
    try:
        if mode == "txonly":
            if frame is None:
                raise ValueError("txonly needs the frame to send")
            return loops.txonly(sock, frame, seconds, batch=batch, warmup=warmup,
                                progress=progress)
        with scheduling.coalesced_wakeups() if coalesce else contextlib.nullcontext():
            return loops.MODES[mode](sock, seconds, batch=batch, warmup=warmup,
                                     progress=progress)
    except interrupts.Interrupted:
        if progress.elapsed:
            progress.report("%s: interrupted; %d packets in the first %.1f s (the last rate "
                            "line)" % (mode, progress.packets, progress.elapsed))
        else:
            progress.report("%s: interrupted within the first second" % mode)
        raise


def run(mode: str, interface: Optional[str] = None, queue: int = 0,
        seconds: Optional[float] = DEFAULT_SECONDS, batch: int = DEFAULT_BATCH,
        xdp_mode: str = "auto", zerocopy: Optional[bool] = None, size: int = DEFAULT_SIZE,
        dst_mac: Optional[str] = None, warmup: float = 0.0, report: Report = print,
        coalesce: bool = False) -> Summary:
    """Run benchmark ``mode`` for ``seconds`` (None: until interrupted) and
    return a :class:`Summary`; a rate line goes to ``report`` about once a
    second.  ``interface`` None: on a veth pair of its own (see the module
    docstring).  txonly on an interface needs ``dst_mac``: whom the frames
    are for.  ``coalesce`` (receiving modes): receive under
    :func:`pyxsk.scheduling.coalesced_wakeups` with an RX ring that holds a
    scheduler slice of frames."""
    if mode not in MODES:
        raise ValueError("mode must be one of %s, not %r" % (", ".join(MODES), mode))
    if coalesce and mode == "txonly":
        raise ValueError("coalescing wake-ups is for the receiving modes, not txonly")
    progress = Progress(mode, report)
    if interface is None:
        return _run_own(mode, seconds, batch, xdp_mode, zerocopy, size, warmup, report,
                        progress, coalesce)
    frame = None
    if mode == "txonly":
        if dst_mac is None:
            raise ValueError("txonly on an interface needs dst_mac: whom the frames are for")
        src_mac = link.get_link(interface).mac
        if src_mac is None:
            raise BenchError("%s has no MAC address for the frames' source" % interface)
        frame = udp_frame(src_mac, dst_mac, size)
    with interrupts.guarded(_open, mode, interface, queue, xdp_mode, zerocopy,
                            coalesce) as sock:
        where, modes = "%s queue %d" % (interface, queue), socket_modes(sock)
        report("%s on %s: %s" % (mode, where, _setup(sock, batch, coalesce)))
        result = _loop(mode, sock, seconds, batch, warmup, frame, progress, coalesce)
        return Summary(result, where, modes, statistics(sock), None)


def _run_own(mode: str, seconds: Optional[float], batch: int, xdp_mode: str,
             zerocopy: Optional[bool], size: int, warmup: float, report: Report,
             progress: Progress, coalesce: bool) -> Summary:
    with interrupts.guarded(temporary_veth_pair) as pair:
        a, b = pair.a, pair.b
        report("%s on a veth pair of its own: %s (netns %s) <-> %s (netns %s)"
               % (mode, a.name, a.netns, b.name, b.netns))
        if mode == "txonly":
            frame = udp_frame(a.mac, b.mac, size)
            with interrupts.guarded(_open_in, a, mode, a.name, 0, xdp_mode, zerocopy) as sock:
                where, modes = "%s queue 0" % a.name, socket_modes(sock)
                report("%s on %s: %s" % (mode, where, _setup(sock, batch, False)))
                result = _loop(mode, sock, seconds, batch, warmup, frame, progress)
                return Summary(result, where, modes, statistics(sock), None)
        with interrupts.guarded(_open_in, b, mode, b.name, 0, xdp_mode, zerocopy,
                                coalesce) as sock:
            where, modes = "%s queue 0" % b.name, socket_modes(sock)
            report("%s on %s: %s" % (mode, where, _setup(sock, batch, coalesce)))
            source_seconds = None if seconds is None else seconds + warmup + SOURCE_MARGIN
            with interrupts.guarded(TrafficSource, a, b.mac, source_seconds, size) as source:
                report("traffic source: %s" % " ".join(source.command[1:]))
                _wait_for_traffic(sock, source)
                result = _loop(mode, sock, seconds, batch, warmup, None, progress, coalesce)
            return Summary(result, where, modes, statistics(sock), source.summary())
