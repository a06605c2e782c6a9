"""An interface deleted under a running ``dump``, ``bench`` or ``send``:
the command ends within about two seconds, exit status 1, with one line on
stderr that says the interface is gone -- no traceback, no hang.

AF_XDP's poll(2) reports nothing when the interface goes (PITFALLS.md), so
this rests on the socket calls raising InterfaceGoneError (pyxsk.xsk) and
on the commands waiting only through them."""

import os
import time

import pytest

from pyxsk.net import link
# nothing_left_behind: test_cli's autouse fixture (commands ended, no namespace left)
from test_cli import (EXIT_FAILED, RECV_TIMEOUT, Running,  # noqa: F401
                      nothing_left_behind, numbered_frames, packet_socket, write_pcap)

GONE_SECONDS = 3.0          # from the deletion to the command's end: the socket notices
                            # within ~1 s, then the command closes what it made

pytestmark = pytest.mark.root


def delete_under(run, end, command):
    """Delete ``end``'s veth (both ends go) while ``run`` uses it; check the
    command ends in time with one line about it.  Returns that line and
    the command's stdout."""
    stderr_before = len(run.seen[run.proc.stderr.fileno()])
    deleted_at = time.monotonic()
    link.delete_link(end.name, netns=end.netns)
    status, out, err = run.finish(timeout=GONE_SECONDS)
    assert time.monotonic() - deleted_at < GONE_SECONDS
    assert status == EXIT_FAILED, err
    assert "Traceback" not in err
    lines = err[stderr_before:].strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pyxsk %s: error: interface %s" % (command, end.name)), lines[0]
    assert "is gone" in lines[0]
    return lines[0], out


@pytest.mark.parametrize("args", [["-d", "60"], ["-d", "inf", "-w", os.devnull]],
                         ids=["lines", "pcap"])
def test_dump(veth_pair, args):
    b = veth_pair.b
    run = Running(*(["dump", b.name, "-n", b.netns] + args))
    run.wait_for("listening on")
    line, _out = delete_under(run, b, "dump")
    assert line.endswith("frames captured" + (" to %s" % os.devnull if "-w" in args else ""))


@pytest.mark.parametrize("mode", ["rxdrop", "txonly"])
def test_bench(veth_pair, mode):
    a, b = veth_pair.a, veth_pair.b
    end = a if mode == "txonly" else b
    extra = ["--dst-mac", b.mac] if mode == "txonly" else []
    run = Running(*(["bench", mode, end.name, "-n", end.netns, "-d", "60"] + extra))
    run.wait_for("%s on %s queue 0" % (mode, end.name))
    delete_under(run, end, "bench")


@pytest.mark.parametrize("rate", [None, "0.2"], ids=["fast", "one-frame-every-5s"])
def test_send(veth_pair, tmp_path, rate):
    a, b = veth_pair.a, veth_pair.b
    path = tmp_path / "frames.pcap"
    write_pcap(path, numbered_frames(a, b, 8))
    with packet_socket(b) as witness:
        run = Running(*(["send", a.name, "-n", a.netns, "-r", str(path), "--loop", "0"]
                        + ([] if rate is None else ["--rate", rate])))
        witness.settimeout(RECV_TIMEOUT)
        witness.recv(65536)                   # it is sending (socket.timeout fails the test)
    _line, out = delete_under(run, a, "send")
    assert out.startswith("sent "), out            # what went before, counted
