"""``pyxsk demo``: numbered frames across a veth pair of its own, every byte checked.

It creates two network namespaces with one end of a veth pair in each
(:func:`pyxsk.testing.temporary_veth_pair`), sends numbered frames of
mixed sizes from end A with a TX-only :class:`pyxsk.Socket`, receives them
on end B with a :class:`pyxsk.XskSocket` (which loads and attaches the
redirect program), compares every received frame with the one sent, and
removes the sockets, the program, the veth pair and the namespaces -- also
when interrupted (see :mod:`pyxsk.cli.interrupts`).

Frames go in windows of at most :data:`WINDOW` in flight: a veth receiving
with native XDP queues frames on a 256-entry ring and drops what does not
fit, which would be a lost frame here rather than a slow one.
"""

from __future__ import annotations

import random
import struct
import time
from typing import TYPE_CHECKING, Callable, Dict, NamedTuple, Optional, Tuple, Union

from . import interrupts, probe
from ..net import netns
from ..errors import ConfigError
from ..net.link import parse_mac
from .summary import socket_modes
from ..testing import temporary_veth_pair
from ..xsk import Socket

if TYPE_CHECKING:
    from ..testing import VethEnd
    from ..xsksocket import XskSocket

Buffer = Union[bytes, bytearray, memoryview]

ETH_P_DEMO = 0x88B5            # IEEE 802 "local experimental" EtherType: no stack takes it
HEADER = struct.Struct("!6s6sHI")  # dst MAC, src MAC, EtherType, sequence number
MIN_FRAME, MAX_FRAME = 60, 1514    # Ethernet without FCS: the smallest and the MTU-sized frame
SIZE_STRIDE = 7919             # a prime: sizes cycle through the range in a scattered order
PATTERN_PERIOD = 251           # a prime: payloads start at different pattern offsets
PATTERN_SEED = 5
WINDOW = 128                   # frames in flight at most (veth's native-XDP ring holds 256)
RECV_BATCH = 256
SEND_TIMEOUT = 5.0             # seconds; a healthy veth takes a window in microseconds
ARRIVAL_TIMEOUT = 5.0          # seconds without a new frame before the rest count as missing
                               # (generous: a loss ends the run, so only a failing demo waits)
DEFAULT_COUNT = 200000
MAX_COUNT = 2 ** 32            # frames are numbered from 0 in HEADER's 4-byte field
BITS_PER_BYTE = 8
GIGA = 1e9

# the functional form: a field named ``count`` in a class body would clash with tuple.count
DemoResult = NamedTuple("DemoResult", [
    ("count", int), ("sent", int), ("intact", int), ("corrupt", int), ("duplicated", int),
    ("missing", int), ("other", int), ("seconds", float), ("modes", str)])
DemoResult.__doc__ = """The demo's outcome: of ``count`` frames asked for, ``sent``
went out (fewer when the run stopped at the first loss); ``intact`` arrived equal
to what was sent; ``corrupt`` differed (or carried a number never sent); ``duplicated``
came twice; ``missing`` never came; ``other`` frames were not the demo's (the
kernel's own IPv6 chatter); ``seconds`` the exchange took; ``modes`` of the
receiving socket, in words."""


class NumberedFrames:
    """The demo's frames: frame ``seq`` is the Ethernet header, ``seq`` as 4
    bytes, then a slice of a fixed random pattern; its size, from ``sizes``,
    is a function of ``seq`` too, so the receiver rebuilds what it expects
    from the number alone."""

    def __init__(self, dst_mac: str, src_mac: str,
                 sizes: Tuple[int, int] = (MIN_FRAME, MAX_FRAME)) -> None:
        lo, hi = sizes
        if not HEADER.size <= lo <= hi:
            raise ConfigError("frame sizes must be %d or more, lo <= hi: %r" % (HEADER.size, sizes))
        self.lo, self.span = lo, hi - lo + 1
        self.dst, self.src = parse_mac(dst_mac), parse_mac(src_mac)
        rng = random.Random(PATTERN_SEED)
        self.pattern = bytes(rng.getrandbits(8) for _ in range(PATTERN_PERIOD + hi))

    def size(self, seq: int) -> int:
        return self.lo + seq * SIZE_STRIDE % self.span

    def frame(self, seq: int) -> bytes:
        start = seq % PATTERN_PERIOD
        body = self.pattern[start:start + self.size(seq) - HEADER.size]
        return HEADER.pack(self.dst, self.src, ETH_P_DEMO, seq) + body


class Tally:
    """Counts what arrived against the window of frames in flight."""

    def __init__(self) -> None:
        self.intact = self.corrupt = self.duplicated = self.missing = self.other = 0

    def take(self, frame: Buffer, window: Dict[int, bytes], sent: int) -> None:
        """Check one received frame; ``window`` maps the numbers still
        expected to their frames, ``sent`` is how many went out so far."""
        if len(frame) < HEADER.size or HEADER.unpack_from(frame)[2] != ETH_P_DEMO:
            self.other += 1
            return
        seq = HEADER.unpack_from(frame)[3]
        expected = window.pop(seq, None)
        if expected is None:
            if seq < sent:
                self.duplicated += 1
            else:
                self.corrupt += 1
        elif frame == expected:
            self.intact += 1
        else:
            self.corrupt += 1


def _receiver(end: VethEnd, xdp_mode: str) -> XskSocket:
    with netns.entered(end.netns):
        return probe.xsk_with_link(end.name, 0, xdp_mode=xdp_mode)


def _sender(end: VethEnd) -> Socket:
    with netns.entered(end.netns):
        return Socket(end.name, 0, rx_size=0)


def _receive_window(rx: Socket, window: Dict[int, bytes], tally: Tally, sent: int) -> None:
    """Receive until every frame of ``window`` arrived or none came for
    :data:`ARRIVAL_TIMEOUT`; what is left counts as missing."""
    deadline = time.monotonic() + ARRIVAL_TIMEOUT
    while window:
        with rx.recv(RECV_BATCH, timeout=max(0.0, deadline - time.monotonic())) as batch:
            if batch:
                deadline = time.monotonic() + ARRIVAL_TIMEOUT
            for frame in batch:
                tally.take(frame, window, sent)
        if not batch and time.monotonic() >= deadline:
            break
    tally.missing += len(window)
    window.clear()


def exchange(tx: Socket, rx: Socket, frames: NumberedFrames, count: int,
             progress: Optional[Callable[[float, int], object]] = None
             ) -> Tuple[Tally, int, float]:
    """Send ``count`` numbered frames on ``tx``, check them on ``rx``;
    ``progress(elapsed, checked)`` about once a second.  Stops after the
    first window with a frame missing.  Returns (Tally, frames sent, seconds)."""
    tally = Tally()
    t0 = tick = time.monotonic()
    sent = 0
    while sent < count:
        window = {seq: frames.frame(seq) for seq in range(sent, min(count, sent + WINDOW))}
        tx.sendall(list(window.values()), timeout=SEND_TIMEOUT)
        tx.flush(SEND_TIMEOUT)
        sent += len(window)
        _receive_window(rx, window, tally, sent)
        if tally.missing:
            break
        now = time.monotonic()
        if progress is not None and now - tick >= 1.0:
            progress(now - t0, sent)
            tick = now
    return tally, sent, time.monotonic() - t0


def run(count: int = DEFAULT_COUNT, xdp_mode: str = "auto",
        sizes: Tuple[int, int] = (MIN_FRAME, MAX_FRAME),
        report: Callable[[str], object] = print) -> DemoResult:
    """The whole demo; returns :class:`DemoResult`.  ``report(line)`` gets
    the narrative.  Everything it creates is gone when it returns or raises."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ConfigError("count must be an int from 1 to %d (frames are numbered in 4 "
                          "bytes), not %r" % (MAX_COUNT, count))
    frames_bytes = 0
    with interrupts.guarded(temporary_veth_pair) as pair:
        a, b = pair.a, pair.b
        report("pyxsk demo: namespaces %s and %s, veth %s <-> %s"
               % (a.netns, b.netns, a.name, b.name))
        with interrupts.guarded(_receiver, b, xdp_mode) as rx, \
                interrupts.guarded(_sender, a) as tx:
            modes = socket_modes(rx)
            report("  receiver: XskSocket on %s queue 0: %s" % (b.name, modes))
            report("  sender:   Socket on %s, TX only: %s" % (a.name, socket_modes(tx)))
            report("  sending %d numbered frames of %d..%d bytes, at most %d in flight"
                   % (count, sizes[0], sizes[1], WINDOW))
            frames = NumberedFrames(b.mac, a.mac, sizes)
            tally, sent, seconds = exchange(tx, rx, frames, count, progress=lambda t, n: report(
                "  %5.1f s  %d frames checked" % (t, n)))
            frames_bytes = sum(frames.size(seq) for seq in range(sent))
    report("removed the sockets, the XDP program, the veth pair and both namespaces")
    result = DemoResult(count, sent, tally.intact, tally.corrupt, tally.duplicated, tally.missing,
                        tally.other, seconds, modes)
    if sent < count:
        report("stopped after %d frames: frames went missing" % sent)
    report("received %d of %d frames, every byte compared: %d intact, %d corrupt, %d duplicated, "
           "%d missing (%d other frames ignored)" % (
               result.intact + result.corrupt, sent, result.intact, result.corrupt,
               result.duplicated, result.missing, result.other))
    report("rate: %d packets/s, %.2f Gbit/s, %.2f s" % (
        sent / seconds, frames_bytes * BITS_PER_BYTE / seconds / GIGA, seconds))
    return result
