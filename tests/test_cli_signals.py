"""Signals the command line cannot clean up after, or comes too early for:
SIGKILL (the kernel must take the XDP program away: a BPF link does), and
Ctrl-C while Python is still starting ``pyxsk`` (exit 130, no traceback)."""

import json
import signal
import subprocess
import sys
import time

import pytest

# nothing_left_behind: test_cli's autouse fixture (commands ended, no namespace left)
from test_cli import (ETH_P_TEST, EXIT_SIGINT, REPO, Running, _children, _env,  # noqa: F401
                      nothing_left_behind, numbered_frames, send_raw, write_pcap)

SETTLE_SECONDS = 2.0        # for the kernel to show a change on the link
SETTLE_POLL = 0.02
STARTUP_DELAYS = [0.05 * i for i in range(8)]    # SIGINT this long after the start (s)
START_TIMEOUT = 20.0        # seconds a command may take to end after the SIGINT


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


# -- Ctrl-C while starting ------------------------------------------------------------

LAND_IN_IMPORT = """
import os, runpy, signal, sys
module, entry = sys.argv[1], sys.argv[2]
def sigint_when_imported(event, args):
    if event == "import" and args[0] == module:
        os.kill(os.getpid(), signal.SIGINT)
sys.addaudithook(sigint_when_imported)
sys.argv = ["pyxsk", "--version"]
if entry == "python -m pyxsk":
    runpy.run_module("pyxsk", run_name="__main__", alter_sys=True)
else:
    from pyxsk.__main__ import run          # what setup.cfg's console script calls
    sys.exit(run())
"""


@pytest.mark.parametrize("module", ["pyxsk.cli", "pyxsk.cli.benchmark"])
@pytest.mark.parametrize("entry", ["python -m pyxsk", "pyxsk script"])
def test_ctrl_c_while_the_command_line_is_imported_exits_130_quietly(entry, module):
    """The SIGINT lands exactly when ``module`` starts being imported (an
    audit hook sends it), that is after the entry point began and before
    the command runs: nothing printed, status 130."""
    result = subprocess.run([sys.executable, "-S", "-c", LAND_IN_IMPORT, module, entry],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=START_TIMEOUT)
    assert (result.returncode, result.stdout, result.stderr) == (EXIT_SIGINT, "", "")


@pytest.mark.root
def test_ctrl_c_right_after_start_exits_130_without_a_traceback(veth_pair, tmp_path):
    """Ctrl-C at moments spread over the first 0.4 s of ``python3 -m pyxsk
    send`` (Python starting, imports, set-up, sending).  ``-S``: the site
    module runs this machine's .pth files, whose own imports are not
    pyxsk's to guard.  Status 130, or death by SIGINT itself when it came
    before Python installed its handler -- which a shell shows as 130 too."""
    a, b = veth_pair.a, veth_pair.b
    path = tmp_path / "frames.pcap"
    write_pcap(path, numbered_frames(a, b, 1))
    for delay in STARTUP_DELAYS:
        proc = subprocess.Popen([sys.executable, "-S", "-m", "pyxsk", "send", a.name, "-n",
                                 a.netns, "-r", str(path), "--loop", "0", "--rate", "10"],
                                cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
        _children.append(proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=START_TIMEOUT)
        assert proc.returncode in (EXIT_SIGINT, -signal.SIGINT), (delay, err)
        assert "Traceback" not in err, (delay, err)
        assert len(err.splitlines()) <= 1, (delay, err)
