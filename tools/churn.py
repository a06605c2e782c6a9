#!/usr/bin/env python3
"""Churn: create and delete network namespaces and veth pairs of its own, in a loop.

A maintainer's check that the test suite looks only at what each test
created: run the suite while this runs beside it, e.g.

    sudo python3 tools/churn.py --seconds 300 &
    sudo python3 -m pytest -q tests/

A test that compares the machine's whole list of namespaces or links with
an earlier one fails under churn; a test that looks only at its own names
does not notice it.

Each round creates a namespace with a veth pair inside, and a veth pair in
this namespace, then deletes them all.  Every name starts with ``churn``
and this process's pid, so two churns (and the suite) never collide.  It
uses iproute2 (``ip``), not pyxsk: the load does not depend on the code
under test.  It stops after ``--seconds`` and on SIGINT or SIGTERM, and
removes what it created in every case; the exit status is 0 when nothing
was left behind.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

PREFIX = "churn"
IP_TIMEOUT = 10.0           # seconds any one ip command may take
PID_MODULUS = 100000        # keeps names within IFNAMSIZ (15 bytes)
COUNTER_MODULUS = 100       # names are reused round after round, each deleted before
EXIT_SIGNAL_BASE = 128


class Stop(Exception):
    """SIGINT or SIGTERM: stop the loop and clean up."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum, frame):
    raise Stop(signum)


class IpError(RuntimeError):
    """An ``ip`` command failed; the message has the command and ip's own words."""


def ip(*args, check=True):
    """Run ``ip ARGS``; :class:`IpError` if it fails and ``check``."""
    result = subprocess.run(("ip",) + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=IP_TIMEOUT)
    if check and result.returncode != 0:
        raise IpError("ip %s: %s" % (" ".join(args), result.stderr.strip() or
                                     "exit status %d" % result.returncode))
    return result


class Churn:
    """The namespaces and veths of this process, and what is still there."""

    def __init__(self):
        self.tag = "%s%d" % (PREFIX, os.getpid() % PID_MODULUS)
        self.namespaces = set()
        self.links = set()           # veth ends in this namespace
        self.rounds = 0

    def names(self, round_number):
        n = round_number % COUNTER_MODULUS
        return ["%s%s%d" % (self.tag, part, n) for part in ("n", "a", "b", "c", "d")]

    def round(self):
        """Create a namespace with a veth pair in it and a veth pair here; delete them."""
        ns, in_a, in_b, here_a, here_b = self.names(self.rounds)
        self.namespaces.add(ns)
        ip("netns", "add", ns)
        ip("-n", ns, "link", "add", in_a, "type", "veth", "peer", "name", in_b)
        ip("-n", ns, "link", "set", in_a, "up")
        self.links.add(here_a)
        ip("link", "add", here_a, "type", "veth", "peer", "name", here_b)
        ip("link", "set", here_a, "up")
        ip("link", "del", here_a)
        self.links.discard(here_a)
        ip("netns", "del", ns)
        self.namespaces.discard(ns)
        self.rounds += 1

    def clean_up(self):
        """Delete whatever a stopped round left; the names still present afterwards."""
        for name in sorted(self.links):
            ip("link", "del", name, check=False)
        for ns in sorted(self.namespaces):
            ip("netns", "del", ns, check=False)
        left = [n for n in self.namespaces if os.path.exists(os.path.join("/run/netns", n))]
        left += [n for n in self.links if os.path.exists(os.path.join("/sys/class/net", n))]
        return sorted(left)


def parse(argv):
    parser = argparse.ArgumentParser(description="Create and delete network namespaces and "
                                     "veth pairs of its own (names starting with %r) in a loop, "
                                     "to run the test suite under." % PREFIX)
    parser.add_argument("--seconds", type=float, required=True,
                        help="stop after this many seconds")
    parser.add_argument("--pause", type=float, default=0.05,
                        help="seconds between rounds (default 0.05)")
    args = parser.parse_args(argv)
    for name in ("seconds", "pause"):
        value = getattr(args, name)
        if not 0 <= value < float("inf"):
            parser.error("--%s must be a finite number >= 0, not %r" % (name, value))
    return args


def main(argv=None):
    args = parse(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    churn = Churn()
    t0 = time.monotonic()
    status = 0
    try:
        while time.monotonic() - t0 < args.seconds:
            churn.round()
            time.sleep(args.pause)
    except Stop as e:
        status = EXIT_SIGNAL_BASE + e.signum
    except IpError as e:
        print("churn: %s" % e, file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # the clean-up runs to its end
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        left = churn.clean_up()
    print("churn: %d rounds in %.1f s (each: a namespace with a veth pair, and a veth pair "
          "here; names %s*)" % (churn.rounds, time.monotonic() - t0, churn.tag), file=sys.stderr)
    if left:
        print("churn: could not remove %s" % ", ".join(left), file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
