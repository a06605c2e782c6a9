"""Signals the command line cannot clean up after: SIGKILL (the kernel must
take the XDP program away: a BPF link does)."""

import json
import signal
import subprocess
import time

import pytest

# nothing_left_behind: test_cli's autouse fixture (commands ended, no namespace left)
from test_cli import (ETH_P_TEST, Running, nothing_left_behind, numbered_frames,  # noqa: F401
                      send_raw)

SETTLE_SECONDS = 2.0        # for the kernel to show a change on the link
SETTLE_POLL = 0.02


def ip_xdp(end):
    """The XDP part of ``ip -d -j link show`` for ``end`` (None: no program):
    iproute2 as a witness independent of pyxsk."""
    out = subprocess.run(["ip", "-n", end.netns, "-d", "-j", "link", "show", "dev", end.name],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=SETTLE_SECONDS, check=True).stdout
    (shown,) = json.loads(out)
    return shown.get("xdp")


def settle(end, attached):
    """Wait (bounded) until ``end`` has a program (``attached``) or none."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while (ip_xdp(end) is not None) != attached:
        if time.monotonic() >= deadline:
            pytest.fail("%s: XDP %s after %g s: %s" % (end.name, "still missing" if attached
                                                       else "still attached", SETTLE_SECONDS,
                                                       ip_xdp(end)))
        time.sleep(SETTLE_POLL)


@pytest.mark.root
def test_dump_killed_with_sigkill_leaves_no_program(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    killed = Running("dump", b.name, "-n", b.netns, "-d", "60")
    killed.wait_for("listening on")
    settle(b, attached=True)
    killed.proc.kill()
    assert killed.proc.wait(timeout=SETTLE_SECONDS) == -signal.SIGKILL
    settle(b, attached=False)            # the link's fd closed with the process
    sent = numbered_frames(a, b, 3)
    again = Running("dump", b.name, "-n", b.netns, "-c", str(len(sent)), "-d", "60",
                    "--filter", "ether proto 0x%04x" % ETH_P_TEST)
    again.wait_for("listening on")
    send_raw(a, sent)
    status, out, err = again.finish()
    assert status == 0, err
    assert "%d frames captured" % len(sent) in err and len(out.splitlines()) == len(sent)
    settle(b, attached=False)
