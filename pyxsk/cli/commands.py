"""``python3 -m pyxsk`` and ``pyxsk``: the command line.

The jobs xdpsock, xdpdump and xdp-loader do for C users, from the standard
library: ``demo``, ``dump``, ``send``, ``bench``, ``prog`` and ``doctor``
(``pyxsk COMMAND --help`` for each).

Errors a user can cause -- a bad option, an unknown interface or namespace,
a file that is not a pcap, a kernel refusal -- end the command with one line
on stderr and exit status 1 (2 for a bad command line), never a traceback.
Ctrl-C (SIGINT) and SIGTERM stop a command after it removed what it created
(program, sockets, namespaces); the exit status is then 128 + the signal
(130 for Ctrl-C).  See :mod:`pyxsk.cli.interrupts`.  An interface deleted under
a running command ends it the same way as an error: one line, status 1.
Programs are attached through a BPF link where the kernel has them, so even
a command killed with SIGKILL leaves none behind.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import signal
import sys
import time
from typing import (TYPE_CHECKING, Any, Callable, ContextManager, Dict, Iterator, List, NoReturn, Optional,
                    Sequence, Tuple, Union)

from .. import __version__, bpf, scheduling
from . import benchmark, demo, interrupts, probe, progs
from ..net import link, netns
from ..capture import pcap, pcapng
from ..bpf import xdp
from . import loops, replay, summary
from ..errors import (ConfigError, InterfaceGoneError, PcapError, SyscallError,
                      UnsupportedPlatformError)
from ..testing import CleanupError, temporary_veth_pair
from ..xsk import DEFAULT_FRAME_SIZE, Socket
from ..xsksocket import XDP_MODES

if TYPE_CHECKING:
    from ..frames import Batch

Command = Callable[[argparse.Namespace], int]
"""What a subcommand runs: its parsed arguments in, the exit status out."""

PROG = "pyxsk"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = interrupts.EXIT_BASE + signal.SIGPIPE
IFNAME_MAX = 15
QUEUE_MAX = 2 ** 32 - 1        # sockaddr_xdp.sxdp_queue_id is a __u32
DUMP_BATCH = 64
STDOUT = "-"

USER_ERRORS = (OSError, ConfigError, PcapError, CleanupError, UnsupportedPlatformError,
               benchmark.BenchError, progs.ProgError)


class CommandError(Exception):
    """The command cannot do what was asked: an unknown interface, a file of
    the wrong kind, frames the kernel refused..."""


# -- output -------------------------------------------------------------------------

def say(line: str = "") -> None:
    """A line of the command's result on stdout, flushed (a pipe sees it at once)."""
    print(line, flush=True)


def note(line: str) -> None:
    """A line about the command's progress on stderr (stdout may carry a pcap)."""
    print(line, file=sys.stderr, flush=True)


def _message(e: BaseException) -> str:
    """One line for an exception: a SyscallError says the call, errno and
    hint; a plain OSError about a file names the file."""
    if isinstance(e, OSError) and not isinstance(e, SyscallError) and e.filename is not None:
        text = "%s: %s" % (e.filename, e.strerror or e)
    else:
        text = str(e) or type(e).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


# -- argument types -------------------------------------------------------------------

def interface_name(text: str) -> str:
    raw = os.fsencode(text)
    if not 0 < len(raw) <= IFNAME_MAX or b"/" in raw or b"\0" in raw or raw.split() != [raw]:
        raise argparse.ArgumentTypeError("%r is not an interface name (1-%d bytes, no '/' or "
                                         "blanks)" % (text, IFNAME_MAX))
    return text


def namespace(text: str) -> str:
    """A namespace name as ``ip netns`` shows it, or a path like /proc/PID/ns/net."""
    if text.startswith("/"):
        if not os.path.exists(text):
            raise argparse.ArgumentTypeError("no namespace file %s" % text)
        return text
    try:
        found = netns.exists(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    if not found:
        raise argparse.ArgumentTypeError("no network namespace %r (see: ip netns list)" % text)
    return text


_DIGITS = re.compile(r"[0-9]+")


def _whole(text: str, low: int, high: Optional[int], what: str) -> int:
    """A whole number from ``low`` to ``high`` (None: no limit), written in
    decimal digits: int() would also take '1_000', '+5' and other scripts'
    digits, which in a count are more likely a slip than meant."""
    if not _DIGITS.fullmatch(text):
        raise argparse.ArgumentTypeError("%r is not %s" % (text, what))
    value = int(text)
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError("%r is not %s" % (text, what))
    return value


def _real(text: str, what: str) -> float:
    """A float that is a number: float() also takes 'nan', which compares
    false with everything and so would slip through every range check."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not %s" % (text, what)) from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError("%r is not %s" % (text, what))
    return value


def count(text: str) -> int:
    return _whole(text, 1, None, "a positive number")


def count_or_zero(text: str) -> int:
    return _whole(text, 0, None, "a number >= 0")


def demo_count(text: str) -> int:
    return _whole(text, 1, demo.MAX_COUNT, "a number of frames from 1 to %d (the demo "
                  "numbers them in 4 bytes)" % demo.MAX_COUNT)


def queue(text: str) -> int:
    return _whole(text, 0, QUEUE_MAX, "a queue number (0 to %d)" % QUEUE_MAX)


def duration(text: str) -> Optional[float]:
    """Seconds > 0; 'inf' means no time limit and gives None."""
    value = _real(text, "a number of seconds")
    if not value > 0:
        raise argparse.ArgumentTypeError("%r is not a positive number of seconds" % text)
    return None if math.isinf(value) else value


def warmup(text: str) -> float:
    """Finite seconds >= 0: a warm-up that never ends would leave nothing to measure."""
    value = _real(text, "a number of seconds")
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError("%r is not a finite number of seconds >= 0" % text)
    return value


def rate(text: str) -> Optional[float]:
    """Frames per second > 0; 'inf' means as fast as the ring takes them and gives None."""
    value = _real(text, "a rate in frames per second")
    if not value > 0:
        raise argparse.ArgumentTypeError("%r is not a positive rate" % text)
    return None if math.isinf(value) else value


def frame_size(text: str) -> int:
    value = _whole(text, benchmark.MIN_SIZE, None, "a frame size of at least %d bytes"
                   % benchmark.MIN_SIZE)
    if value > DEFAULT_FRAME_SIZE:
        raise argparse.ArgumentTypeError("%s bytes do not fit a %d-byte UMEM chunk"
                                         % (text, DEFAULT_FRAME_SIZE))
    return value


def mac_address(text: str) -> str:
    try:
        link.parse_mac(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e))
    return text


# --mode of prog load: xdp-loader's words and pyxsk's (drv, skb) alike
LOAD_MODES = {"auto": "auto", "native": "drv", "drv": "drv", "skb": "skb", "generic": "skb",
              "hw": "hw"}


def load_mode(text: str) -> str:
    """An XDP mode for prog load, as pyxsk names it (auto, drv, skb or hw)."""
    try:
        return LOAD_MODES[text]
    except KeyError:
        raise argparse.ArgumentTypeError("%r is not an XDP mode: auto, native (or drv), skb (or "
                                         "generic), hw" % text) from None


def filter_text(text: str) -> str:
    try:
        xdp.parse_filter(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e))
    return text


# -- the parser ---------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse with errors on one line (usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, "%s: error: %s (try: %s --help)\n" % (self.prog, message, self.prog))


def _add_netns(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--netns", type=namespace, metavar="NAME",
                   help="the interface's network namespace, as for ip -n (default: this one)")


def _add_queue(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--queue", type=queue, default=0, metavar="Q",
                   help="the interface queue (default 0)")


def _add_xdp_mode(p: argparse.ArgumentParser) -> None:
    p.add_argument("--xdp-mode", choices=XDP_MODES, default="auto",
                   help="attach the XDP program natively (drv), generically (skb), or auto: "
                        "native if the driver can, else generic (default)")


def _add_copy_mode(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-z", "--zerocopy", dest="zerocopy", action="store_const", const=True,
                       help="bind in zero-copy mode (fails where the driver has none, e.g. veth)")
    group.add_argument("--copy", dest="zerocopy", action="store_const", const=False,
                       help="bind in copy mode (default: the kernel chooses)")


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("-j", "--json", action="store_true",
                   help="print one JSON document on stdout instead of lines of text")


def _command(subparsers: argparse._SubParsersAction[Parser], name: str, run: Optional[Command],
             summary_line: str, description: str, epilog: Optional[str] = None) -> Parser:
    p = subparsers.add_parser(name, help=summary_line, description=description, epilog=epilog,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=run)
    return p


DEMO_HELP = """\
Creates two network namespaces with a veth pair between them, receives on
one end with a pyxsk XskSocket (redirect program attached natively, else
generically) and sends numbered frames of mixed sizes from the other end
with a pyxsk Socket, compares every byte of every frame that arrives, and
prints the packet rate and the modes the kernel gave.  Then it removes
everything it created -- also on Ctrl-C.  Exit status 0 only if every frame
arrived intact."""

DUMP_HELP = """\
Captures the frames arriving on one queue of an interface with an AF_XDP
socket: to a pcapng file (-w; each frame's comment names its queue; --pcap
for classic pcap; both readable by tcpdump, tshark and Wireshark) or as one
summary line per frame.

Frames dump takes are redirected to its socket and do NOT reach the kernel's
network stack while it runs: the host stops seeing them (no ping answers,
no ARP, no TCP on that queue).  --filter limits what is taken: frames that
do not match go on to the kernel as usual.  Frames on other queues are
neither taken nor disturbed.  The program is removed when dump ends.
Timestamps are taken when pyxsk reads a batch (AF_XDP gives none)."""

SEND_HELP = """\
Replays the frames of a capture file (pcap or pcapng, Ethernet) through an
AF_XDP TX ring, in order: as fast as the ring takes them, or at an average
rate (--rate) held by sleeping, not spinning.  No XDP program is needed."""

BENCH_HELP = """\
Packet-rate benchmarks like xdpsock: a rate line every second, then a summary.
  rxdrop    receive and drop (descriptors straight back to the fill ring)
  rx-touch  receive and read every frame's EtherType
  txonly    send one UDP frame (--size bytes) over and over
  l2fwd     receive, swap the MAC addresses, send back out
With an interface, traffic must come from elsewhere (receiving modes), and
txonly needs --dst-mac.  Without one, bench creates two namespaces and a
veth pair, starts a traffic source (python3 -m pyxsk bench txonly) on the
other end, and removes everything afterwards."""

PROG_HELP = """\
Loads a clang-built object file and attaches its XDP program (load), shows
the XDP programs attached to an interface or to every interface of the
namespace (show), detaches one (detach), or removes what load pinned
(unload)."""

PROG_LOAD_HELP = """\
Loads a BPF object file built by clang (clang -O2 -g -target bpf -c
prog.c) -- every program and map in it, with pyxsk's own loader, no libbpf
-- and attaches one XDP program to IFACE: the function --program names, or
the object's only XDP program.  A section name that says no program type
(SEC("foo")) needs --type xdp.

Without --pin the program is attached by netlink, as xdp-loader and
ip link do: it stays attached after pyxsk exits, until
"pyxsk prog detach IFACE".  The object's other programs go when pyxsk
exits; its maps live as long as the attached program uses them.

With --pin DIR (on a bpffs; made if missing, else it must be empty) the
program is attached through a BPF link, and the link, every program and
every map are pinned: DIR/link, DIR/progs/NAME, DIR/maps/NAME, for bpftool
or Prog.from_pinned to find.  The pinned link keeps the program attached
after pyxsk exits and netlink cannot displace it; "pyxsk prog unload DIR"
detaches it and removes the pins."""

PROG_UNLOAD_HELP = """\
Undoes "pyxsk prog load --pin DIR": detaches the pinned link's program from
its interface at once, removes DIR/link, DIR/progs and DIR/maps, and DIR
itself unless something else is in it.  Maps pinned by name
(LIBBPF_PIN_BY_NAME, under --pin-root) stay, as libbpf leaves them."""

PROG_SHOW_HELP = """\
Shows the XDP programs attached to IFACE, or to every interface of the
namespace when none is named: one line each (interface, program id, mode,
name, tag, number of maps).  With -j/--json: one JSON array instead, one
object per program with the keys ifindex, ifname, mode ("skb", "drv" or
"hw"), id, name, tag and map_count (name, tag and map_count null if the
program was unloaded meanwhile); an empty array when there is none."""

DOCTOR_HELP = """\
Asks this kernel what it offers AF_XDP: sockets, the mmap-offsets layout,
need_wakeup, XDP_OPTIONS and zero-copy, shared UMEM, unaligned chunks,
multi-buffer, native and generic XDP, bpf_link, XDP_MAX_TX_SKB_BUDGET -- one
line each, with what pyxsk does without it.  Without IFACE the probes run
on a veth pair of doctor's own (removed afterwards).  With IFACE they do not
disturb its traffic: copy-mode binds only, and no program is attached unless
--attach is given (never over a program already there); a zero-copy bind
only with --zerocopy."""


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="AF_XDP sockets from pure Python: the jobs of "
                    "xdpsock, xdpdump and xdp-loader.  Needs root (or CAP_NET_ADMIN, "
                    "CAP_NET_RAW, CAP_BPF, CAP_SYS_ADMIN).",
                    epilog="Start with: sudo python3 -m pyxsk demo")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    p = _command(sub, "demo", cmd_demo, "frames across a veth pair of its own, every byte "
                 "checked (start here)", DEMO_HELP, "example:\n  sudo python3 -m pyxsk demo")
    p.add_argument("--count", type=demo_count, default=demo.DEFAULT_COUNT,
                   help="frames to send (default %d)" % demo.DEFAULT_COUNT)
    _add_xdp_mode(p)

    p = _command(sub, "dump", cmd_dump, "capture frames of an interface queue", DUMP_HELP,
                 "examples:\n  pyxsk dump eth1 -c 10\n  pyxsk dump veth1 -n ns1 -w out.pcap "
                 "--filter 'udp dst port 4789'\n  pyxsk dump eth1 -w - | tcpdump -r - -nn")
    p.add_argument("interface", type=interface_name, metavar="IFACE")
    _add_netns(p)
    _add_queue(p)
    p.add_argument("-c", "--count", type=count, metavar="N", help="stop after N frames")
    p.add_argument("-d", "--duration", type=duration, metavar="SECONDS",
                   help="stop after this many seconds (default, or inf: no time limit)")
    p.add_argument("-w", "--write", metavar="FILE",
                   help="write a pcapng file ('-': standard output) instead of summary lines")
    p.add_argument("--pcap", action="store_true",
                   help="write classic pcap (nanosecond timestamps) instead of pcapng")
    p.add_argument("--filter", type=filter_text, metavar="TEXT",
                   help="take only matching frames, e.g. 'udp dst port 9', 'ip6 and tcp', "
                        "'vlan 10', 'dst net 10.0.0.0/8' (everything else still goes to the "
                        "kernel)")
    _add_xdp_mode(p)
    _add_copy_mode(p)

    p = _command(sub, "send", cmd_send, "replay a pcap file through TX", SEND_HELP,
                 "examples:\n  pyxsk send veth0 -r frames.pcap\n  pyxsk send eth1 -r "
                 "frames.pcap --loop 0 --rate 1000")
    p.add_argument("interface", type=interface_name, metavar="IFACE")
    p.add_argument("-r", "--read", required=True, metavar="FILE", help="the pcap file")
    _add_netns(p)
    _add_queue(p)
    p.add_argument("--loop", type=count_or_zero, default=1, metavar="N",
                   help="send the file N times (default 1; 0: until interrupted)")
    p.add_argument("--rate", type=rate, metavar="PPS", help="average frames per second "
                   "(default, or inf: as fast as the TX ring takes them)")
    p.add_argument("-b", "--batch", type=count, default=replay.DEFAULT_BATCH,
                   help="frames per TX batch at a set rate (default %d)" % replay.DEFAULT_BATCH)
    _add_copy_mode(p)

    p = _command(sub, "bench", cmd_bench, "packet-rate benchmarks like xdpsock", BENCH_HELP,
                 "examples:\n  sudo python3 -m pyxsk bench rxdrop\n  pyxsk bench l2fwd eth1 "
                 "-q 2 -d 30\n  pyxsk bench txonly eth1 --dst-mac 3c:fd:fe:9e:7f:71")
    p.add_argument("mode", choices=benchmark.MODES)
    p.add_argument("interface", type=interface_name, metavar="IFACE", nargs="?",
                   help="where to run (default: a veth pair of its own, with a traffic source)")
    _add_netns(p)
    _add_queue(p)
    p.add_argument("-d", "--duration", type=duration, default=benchmark.DEFAULT_SECONDS,
                   metavar="SECONDS", help="how long to run (default %g; inf: until "
                   "interrupted)" % benchmark.DEFAULT_SECONDS)
    p.add_argument("-b", "--batch", type=count, default=benchmark.DEFAULT_BATCH,
                   help="frames per batch (default %d)" % benchmark.DEFAULT_BATCH)
    p.add_argument("--warmup", type=warmup, default=0.0, metavar="SECONDS",
                   help="leave the first SECONDS out of the summary's rate (less than "
                        "--duration)")
    p.add_argument("--size", type=frame_size, default=benchmark.DEFAULT_SIZE,
                   help="txonly frame size in bytes (default %d)" % benchmark.DEFAULT_SIZE)
    p.add_argument("--dst-mac", type=mac_address, metavar="MAC",
                   help="txonly: the frames' destination MAC (required with IFACE)")
    p.add_argument("--coalesce", action="store_true",
                   help="receive under SCHED_BATCH with an %d-entry RX ring: under load the "
                        "kernel's receive thread is not preempted every 64 frames and frames "
                        "come in batches of thousands (higher rate, up to a few ms of latency)"
                        % scheduling.COALESCED_RX_SIZE)
    _add_xdp_mode(p)
    _add_copy_mode(p)

    p = _command(sub, "prog", None, "load, show, detach or unload XDP programs", PROG_HELP)
    prog_sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    prog_sub.required = True
    q = _command(prog_sub, "show", cmd_prog_show, "the attached XDP program(s)", PROG_SHOW_HELP,
                 "examples:\n  pyxsk prog show eth1\n  pyxsk prog show -n ns1 --json")
    q.add_argument("interface", type=interface_name, metavar="IFACE", nargs="?",
                   help="the interface (default: every interface of the namespace)")
    _add_netns(q)
    _add_json(q)
    q = _command(prog_sub, "load", cmd_prog_load, "load an object file, attach its XDP program",
                 PROG_LOAD_HELP, "examples:\n  pyxsk prog load xdp_prog.o eth1\n  pyxsk prog "
                 "load filters.o eth1 --program xdp_drop_udp --mode skb --pin "
                 "/sys/fs/bpf/filters")
    q.add_argument("object", metavar="OBJ", help="the BPF object file (ELF, from clang)")
    q.add_argument("interface", type=interface_name, metavar="IFACE")
    _add_netns(q)
    q.add_argument("-p", "--program", metavar="NAME",
                   help="the function to attach (default: the object's only XDP program)")
    q.add_argument("-m", "--mode", type=load_mode, default="auto",
                   metavar="{auto,native,skb,hw}",
                   help="attach natively (native, also drv), generically (skb, also generic), "
                        "offloaded (hw), or auto: native if the driver can, else generic "
                        "(default)")
    q.add_argument("--pin", metavar="DIR",
                   help="attach through a BPF link and pin it, every program and every map "
                        "under DIR (on a bpffs)")
    q.add_argument("--type", choices=progs.XDP_TYPE_NAMES,
                   help="the program type of every section, for section names that say none")
    q.add_argument("--pin-root", metavar="DIR",
                   help="where maps declared LIBBPF_PIN_BY_NAME are pinned, or reused from "
                        "(default /sys/fs/bpf, as libbpf)")
    q = _command(prog_sub, "unload", cmd_prog_unload, "detach and unpin what prog load --pin "
                 "made", PROG_UNLOAD_HELP, "example:\n  pyxsk prog unload /sys/fs/bpf/filters")
    q.add_argument("pin_dir", metavar="DIR", help="the directory given to prog load --pin")
    q = _command(prog_sub, "detach", cmd_prog_detach, "remove the attached XDP program",
                 PROG_HELP, "example:\n  pyxsk prog detach eth1")
    q.add_argument("interface", type=interface_name, metavar="IFACE")
    _add_netns(q)
    q.add_argument("--mode", choices=sorted(link.XDP_MODE_FLAGS),
                   help="which one, when programs are attached in two modes")

    p = _command(sub, "doctor", cmd_doctor, "what this kernel and interface offer AF_XDP",
                 DOCTOR_HELP, "examples:\n  sudo python3 -m pyxsk doctor\n  pyxsk doctor eth1 "
                 "--zerocopy")
    p.add_argument("interface", type=interface_name, metavar="IFACE", nargs="?")
    _add_netns(p)
    _add_queue(p)
    p.add_argument("--attach", action="store_true",
                   help="with IFACE: attach a pass-all program for a moment to probe native "
                        "and generic XDP and bpf_link (never over an attached program)")
    p.add_argument("-z", "--zerocopy", action="store_true",
                   help="with IFACE: try a zero-copy bind (the driver rebuilds the queue)")
    _add_json(p)
    return parser


# -- shared steps ---------------------------------------------------------------------

def _in_netns(args: argparse.Namespace) -> ContextManager[None]:
    """Enter the namespace of ``--netns`` for the command's duration (this thread)."""
    name = getattr(args, "netns", None)
    return netns.entered(name) if name is not None else contextlib.nullcontext()


def _require_interface(args: argparse.Namespace) -> link.Link:
    """The interface's :class:`pyxsk.net.link.Link`; CommandError if there is none."""
    try:
        return link.get_link(args.interface)
    except OSError as e:
        if e.errno != errno.ENODEV:
            raise
        where = " in network namespace %s" % args.netns if getattr(args, "netns", None) else ""
        raise CommandError("no interface %r%s" % (args.interface, where)) from None


# -- demo -----------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    result = demo.run(args.count, args.xdp_mode, report=say)
    passed = result.intact == result.count
    say("demo %s: %d/%d frames intact, %d packets/s, %s" % (
        "passed" if passed else "FAILED", result.intact, result.count,
        result.sent / result.seconds, result.modes))
    return EXIT_OK if passed else EXIT_FAILED


# -- dump -----------------------------------------------------------------------------

CaptureWriter = Union[pcap.Writer, pcapng.Writer]


def _open_output(args: argparse.Namespace) -> Optional[CaptureWriter]:
    """The writer for ``-w`` (a path, or '-' for standard output): pcapng
    naming the interface, or classic pcap with ``--pcap``; None without -w."""
    if args.write is None:
        return None
    target = sys.stdout.buffer if args.write == STDOUT else args.write
    if args.pcap:
        return pcap.Writer(target, nanosecond=True)
    return pcapng.Writer(target, interfaces=[args.interface], application="pyxsk dump")


class DumpSink:
    """Where dump's frames go -- a pcap :class:`~pyxsk.capture.pcap.Writer`, or a
    summary line each on stdout -- and how many went."""

    def __init__(self, writer: Optional[CaptureWriter] = None, queue: int = 0) -> None:
        self.writer = writer
        self.queue = queue
        self.frames = 0

    def take(self, batch: Batch, timestamp: float) -> None:
        writer = self.writer
        if isinstance(writer, pcapng.Writer):
            ns = int(timestamp * 1e9)
            comment = "queue %d, XDP_REDIRECT to AF_XDP" % self.queue
            for frame in batch:
                # copies, as below
                writer.write(bytes(frame), ns, flags=pcapng.EPB_INBOUND, comment=comment, queue=self.queue)
            writer.flush()
        elif writer is not None:
            for frame in batch:
                # a copy: views the writer makes of a frame would pin the UMEM
                # (close() refuses to unmap it) if writing fails (EPIPE, ENOSPC)
                writer.write(bytes(frame), timestamp)
            writer.flush()
        else:
            for frame in batch:
                print(summary.summarize(frame, timestamp))
            sys.stdout.flush()
        self.frames += len(batch)


def capture(xsk: Socket, sink: DumpSink, limit: Optional[int] = None,
            duration: Optional[float] = None) -> None:
    """Receive into ``sink`` until it has ``limit`` frames or ``duration``
    seconds have passed (None: no limit); timestamps are taken per batch.
    Only the socket's recv() waits, so a deleted interface ends the capture
    with its InterfaceGoneError; a recv() that keeps coming back empty at
    once does not make the loop spin (:class:`pyxsk.cli.loops.Idle`)."""
    deadline = None if duration is None else time.monotonic() + duration
    idle = loops.Idle()
    while limit is None or sink.frames < limit:
        timeout = None
        if deadline is not None:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                return
        want = DUMP_BATCH if limit is None else min(DUMP_BATCH, limit - sink.frames)
        with xsk.recv(want, timeout) as batch:
            if batch:
                sink.take(batch, time.time())
            idle.after(len(batch))


def _refuse_attached(device: link.Link, command: str) -> None:
    """Commands never displace a program (XskSocket refuses too; this says it plainly)."""
    attached = device.xdp.prog_ids()
    if attached:
        raise CommandError("%s already has %s: %s does not replace it (see: pyxsk prog show "
                           "and prog detach)" % (device.name, ", ".join(
                               "XDP program %d in %s mode" % (prog_id, mode)
                               for mode, prog_id in sorted(attached.items())), command))


def cmd_dump(args: argparse.Namespace) -> int:
    with _in_netns(args):
        _refuse_attached(_require_interface(args), "dump")
        writer = _open_output(args)
        try:
            with interrupts.guarded(probe.xsk_with_link, args.interface, args.queue,
                                    filter=args.filter, xdp_mode=args.xdp_mode,
                                    zerocopy=args.zerocopy, tx_size=0) as xsk:
                note("dump: listening on %s queue %d (%s)%s" % (
                    args.interface, args.queue, summary.socket_modes(xsk),
                    ", taking only: " + str(xdp.parse_filter(args.filter)) if args.filter else
                    ", taking every frame"))
                _dump(xsk, DumpSink(writer, args.queue), args)
        finally:
            if writer is not None:
                writer.close()
    return EXIT_OK


def _dump(xsk: Socket, sink: DumpSink, args: argparse.Namespace) -> None:
    """Capture, then say how many frames went where, with the socket's
    counters -- also when interrupted.  When the interface is gone its
    counters went with it: the count goes on the error's one line instead."""
    try:
        capture(xsk, sink, args.count, args.duration)
    except InterfaceGoneError as e:
        raise CommandError("%s; %s" % (e, _captured(sink, args))) from None
    except BaseException:
        _note_captured(xsk, sink, args)
        raise
    _note_captured(xsk, sink, args)


def _captured(sink: DumpSink, args: argparse.Namespace) -> str:
    return "%d frames captured%s" % (sink.frames, " to %s" % args.write if args.write else "")


def _note_captured(xsk: Socket, sink: DumpSink, args: argparse.Namespace) -> None:
    note("dump: %s; socket statistics: %s" % (_captured(sink, args), summary.statistics(xsk)))


# -- send -----------------------------------------------------------------------------

def _captured_frames(path: str) -> Iterator[Tuple[bytes, int]]:
    """(data, length on the wire) of every frame of a pcap or pcapng file."""
    with open(path, "rb") as f:
        head = f.read(4)
    if pcapng.is_pcapng(head):        # its interfaces' link types are checked frame by frame
        return ((record.data, record.orig_len) for record in pcapng.read(path))
    linktype, _snaplen, _nano = pcap.info(path)
    if linktype != pcap.LINKTYPE_ETHERNET:
        raise CommandError("%s has link type %d; pyxsk sends Ethernet frames (link type %d)"
                           % (path, linktype, pcap.LINKTYPE_ETHERNET))
    return ((packet.data, packet.orig_len) for packet in pcap.read(path))


def _read_frames(path: str, capacity: int) -> Tuple[List[bytes], int]:
    """Every frame of pcap or pcapng ``path`` as bytes, checked to fit a UMEM chunk."""
    frames: List[bytes] = []
    cut = 0
    for i, (data, orig_len) in enumerate(_captured_frames(path)):
        if not 0 < len(data) <= capacity:
            raise CommandError("%s: record %d has %d bytes; pyxsk sends 1 to %d (one UMEM chunk)"
                               % (path, i, len(data), capacity))
        cut += len(data) < orig_len
        frames.append(data)
    if not frames:
        raise CommandError("%s holds no frames" % path)
    return frames, cut


def cmd_send(args: argparse.Namespace) -> int:
    frames, cut = _read_frames(args.read, DEFAULT_FRAME_SIZE)
    if cut:
        note("send: %d frames were cut short by the capture's snapshot length: sent as captured"
             % cut)
    with _in_netns(args):
        device = _require_interface(args)
        longest = device.mtu + summary.ETH_HLEN + summary.VLAN_HLEN
        too_long = sum(1 for f in frames if len(f) > longest)
        if too_long:
            note("send: %d frames are longer than %s's MTU (%d) plus headers: the device may "
                 "drop them" % (too_long, args.interface, device.mtu))
        with interrupts.guarded(Socket, args.interface, args.queue, rx_size=0,
                                zerocopy=args.zerocopy) as sock:
            done = _replay(replay.Replayer(sock, frames, args.rate, args.batch), args)
            stats = sock.statistics()
    if done.in_flight or stats.tx_invalid_descs:
        raise CommandError("%d frames did not complete, the kernel refused %d (tx_invalid_descs)"
                           % (done.in_flight or 0, stats.tx_invalid_descs))
    return EXIT_OK


def _replay(replayer: replay.Replayer, args: argparse.Namespace) -> replay.Replayed:
    """Run the replay and say what went -- also when stopped half-way.
    Interrupted, it first waits (a little) for the last completions; when
    the socket failed (an OSError: the interface is gone, the ring stayed
    full) nothing more will complete, so it does not wait for them."""
    try:
        replayer.run(args.loop)
    except OSError:
        say(_sent_line(replayer.finish(flush=False), args))
        raise
    except BaseException:
        say(_sent_line(replayer.finish(), args))
        raise
    done = replayer.finish()
    say(_sent_line(done, args))
    return done


def _sent_line(done: replay.Replayed, args: argparse.Namespace) -> str:
    return "sent %d frames, %d bytes, from %s on %s queue %d in %.2f s: %d frames/s%s" % (
        done.frames, done.bytes, args.read, args.interface, args.queue, done.seconds,
        done.frames / done.seconds if done.seconds else 0,
        "" if args.rate is None else " (asked %g)" % args.rate)


# -- bench ----------------------------------------------------------------------------

def cmd_bench(args: argparse.Namespace) -> int:
    if args.interface is None and args.netns is not None:
        raise CommandError("--netns goes with an interface")
    if args.coalesce and args.mode == "txonly":
        raise CommandError("--coalesce is for the receiving modes (rxdrop, rx-touch, l2fwd)")
    if args.mode == "txonly" and args.interface is not None and args.dst_mac is None:
        raise CommandError("txonly on %s needs --dst-mac: the frames' destination"
                           % args.interface)
    if args.duration is not None and args.warmup >= args.duration:
        raise CommandError("--warmup %g leaves nothing of --duration %g to measure"
                           % (args.warmup, args.duration))
    with _in_netns(args):
        if args.interface is not None:
            device = _require_interface(args)
            if args.mode != "txonly":
                _refuse_attached(device, "bench")
        done = benchmark.run(args.mode, args.interface, args.queue, args.duration, args.batch,
                             args.xdp_mode, args.zerocopy, args.size, args.dst_mac,
                             args.warmup, report=say, coalesce=args.coalesce)
    result = done.result
    say("%s: %d packets in %.2f s: %d pps (%s, %s, batch %d)" % (
        result.mode, result.packets, result.seconds, result.pps, done.where, done.modes,
        args.batch))
    say("  socket statistics: %s" % done.statistics)
    if done.source is not None:
        say("  traffic source: %s" % (done.source or "(no summary)"))
    return EXIT_OK


# -- prog -----------------------------------------------------------------------------

def say_json(document: object) -> None:
    """One JSON document on one line of stdout (stable keys, as documented per command)."""
    say(json.dumps(document))


def cmd_prog_show(args: argparse.Namespace) -> int:
    with _in_netns(args):
        devices = [_require_interface(args)] if args.interface else link.links()
        records = progs.attached(devices)
    if args.json:
        say_json([record.json() for record in records])
    elif records:
        for record in records:
            say(record.line())
    elif args.interface:
        say("%s: no XDP program attached" % args.interface)
    else:
        say("no XDP program attached to any interface%s" % (
            " in network namespace %s" % args.netns if args.netns else ""))
    return EXIT_OK


def cmd_prog_detach(args: argparse.Namespace) -> int:
    with _in_netns(args):
        device = _require_interface(args)
        attached = device.xdp.prog_ids()
        if args.mode is not None:
            attached = {m: p for m, p in attached.items() if m == args.mode}
        if not attached:
            say("%s: no XDP program attached%s: nothing to detach" % (
                device.name, "" if args.mode is None else " in %s mode" % args.mode))
            return EXIT_OK
        if len(attached) > 1:
            raise CommandError("%s has programs in modes %s: say which with --mode"
                               % (device.name, " and ".join(sorted(attached))))
        (mode, prog_id), = attached.items()
        with interrupts.deferred(), bpf.prog_by_id(prog_id) as prog:
            _detach(device, mode, prog)
    say("%s: detached XDP program id %d (mode %s)" % (device.name, prog_id, mode))
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    return "%d %s%s" % (n, noun, "" if n == 1 else "s")


def cmd_prog_load(args: argparse.Namespace) -> int:
    with _in_netns(args):
        device = _require_interface(args)
        _refuse_attached(device, "prog load")
        with interrupts.deferred():
            done = progs.load(args.object, device.name, args.program, args.mode, args.pin,
                              args.type, args.pin_root)
    where = " -n %s" % args.netns if args.netns else ""
    head = "%s: attached XDP program %s (id %d) from %s in %s mode" % (
        done.ifname, done.program, done.prog_id, args.object, done.mode)
    if done.pin_dir is None:
        say("%s by netlink; it stays attached after pyxsk exits (remove it: pyxsk prog detach "
            "%s%s)" % (head, done.ifname, where))
    else:
        say("%s through BPF link id %s, pinned at %s with %s and %s (remove them: pyxsk prog "
            "unload %s)" % (head, done.link_id, os.path.join(done.pin_dir, progs.PIN_LINK),
                            _count(done.programs, "program"), _count(done.maps, "map"),
                            done.pin_dir))
    return EXIT_OK


def cmd_prog_unload(args: argparse.Namespace) -> int:
    with interrupts.deferred():
        done = progs.unload(args.pin_dir)
    if done.link is None:
        what = "no pinned link"
    elif done.link.ifindex:
        what = "detached XDP program id %d from ifindex %d (link id %d)" % (
            done.link.prog_id, done.link.ifindex, done.link.id)
    else:
        what = "link id %d was attached nowhere any more" % done.link.id
    say("%s: %s; removed %s%s" % (args.pin_dir, what, _count(done.pins, "pin"),
                                      "" if done.removed_dir else
                                      "; left the directory: it holds other files"))
    return EXIT_OK


def _detach(device: link.Link, mode: str, prog: bpf.Prog) -> None:
    """Detach ``prog`` from ``device`` in ``mode``, only if it is still the one there."""
    try:
        link.detach_xdp(device.index, mode=mode, expected_fd=prog.fd)
    except OSError as e:
        if e.errno == errno.EBUSY:
            raise CommandError("program %d on %s is held by a BPF link: the process that created "
                               "the link removes it by closing it; a link pinned by pyxsk prog "
                               "load --pin DIR goes with pyxsk prog unload DIR (or: bpftool link "
                               "detach)" % (prog.id, device.name)) from None
        if e.errno == errno.EEXIST:
            raise CommandError("the program on %s changed meanwhile: run prog show again"
                               % device.name) from None
        raise


# -- doctor ---------------------------------------------------------------------------

ESSENTIAL = ("AF_XDP sockets", "eBPF XDP programs", "bind (copy mode)")


def _finding_line(finding: probe.Finding) -> str:
    line = "%-4s  %-26s %s" % (finding.status, finding.feature, finding.detail)
    if finding.fallback:
        line += "  -> %s" % finding.fallback
    return line


def _probe_own_veth(report: Callable[[str], None]) -> List[probe.Finding]:
    with temporary_veth_pair(queues=2) as pair:
        report("probing on a veth pair of its own: %s (netns %s), removed afterwards"
               % (pair.b.name, pair.b.netns))
        with netns.entered(pair.b.netns):
            return probe.InterfaceProbe(pair.b.name, own=True).run()


def _doctor_json(args: argparse.Namespace, findings: List[probe.Finding],
                 failed: List[str]) -> Dict[str, Any]:
    """doctor's JSON document: where it probed, every finding, the verdict."""
    return {
        "platform": probe.platform_line(),
        "interface": args.interface,
        "netns": args.netns,
        "queue": args.queue if args.interface is not None else None,
        "findings": [finding._asdict() for finding in findings],
        "works": not failed,
        "missing": failed,
    }


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.interface is None and (args.netns or args.attach or args.zerocopy or args.queue):
        raise CommandError("--netns, --queue, --attach and --zerocopy go with an interface")
    report = (lambda line: None) if args.json else say
    report("pyxsk doctor: %s" % probe.platform_line())
    with interrupts.deferred():
        findings = probe.kernel()
        if findings[0].status == probe.OK:
            if args.interface is None:
                findings += _probe_own_veth(report)
            else:
                with _in_netns(args):
                    _require_interface(args)
                    probing = probe.InterfaceProbe(args.interface, args.queue,
                                                   zerocopy=args.zerocopy, attach=args.attach)
                    missing = probing.missing_queue()
                    if missing is not None:
                        raise CommandError(missing)
                    report("probing %s queue %d%s" % (args.interface, args.queue,
                                                      "" if not args.netns else " in netns %s"
                                                      % args.netns))
                    findings += probing.run()
    failed = [f.feature for f in findings if f.feature in ESSENTIAL and f.status == probe.NO]
    if args.json:
        say_json(_doctor_json(args, findings, failed))
        return EXIT_FAILED if failed else EXIT_OK
    for finding in findings:
        say(_finding_line(finding))
    if failed:
        say("pyxsk cannot work here: %s" % ", ".join(failed))
        return EXIT_FAILED
    say("pyxsk can work here")
    return EXIT_OK


# -- main -----------------------------------------------------------------------------

def _where(args: argparse.Namespace) -> str:
    parts = [PROG, args.command]
    if getattr(args, "action", None):
        parts.append(args.action)
    return " ".join(parts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        interrupts.install()         # inside the try: a signal right after it is handled
        command: Command = args.run
        return command(args)
    except interrupts.Interrupted as e:
        note("%s: stopped by %s after cleaning up" % (_where(args), signal.Signals(e.signum).name))
        return e.exit_status
    except BrokenPipeError:
        # the reader went away (pyxsk dump | head): quietly, as a shell tool would
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except CommandError as e:
        note("%s: error: %s" % (_where(args), e))
        return EXIT_FAILED
    except USER_ERRORS as e:
        note("%s: error: %s" % (_where(args), _message(e)))
        return EXIT_FAILED
    finally:
        interrupts.uninstall()
