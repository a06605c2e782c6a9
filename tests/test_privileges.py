"""Least privilege: pyxsk as an unprivileged user holding only the capabilities
AF_XDP needs (CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF, CAP_IPC_LOCK), and the
messages of the refusals when one of them is missing.

The real tests start tests/privileged_child.py as uid 65534 through
``nsenter --net`` (into a test namespace) and ``setpriv`` (uid, groups, and
the inheritable, ambient and bounding sets), on a copy of pyxsk in a
directory that user can read.  The child checks its own CapEff first.
"""

import contextlib
import ctypes
import errno
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from kabi import gcc_layout
from minimal_prog import xdp_pass_program
from traffic import inject, make_frames
from pyxsk import capabilities
from pyxsk.net import link, netns
from pyxsk.testing import unique_name
from pyxsk.uapi import capability

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(os.path.dirname(HERE), "pyxsk")
CHILD = "privileged_child.py"
NOBODY = 65534
CHILD_TIMEOUT = 60.0            # seconds for one child, start to exit
FRAMES = 16

# linux/capability.h, written out here so the test does not trust pyxsk's table
CAP_BITS = {"net_admin": 12, "net_raw": 13, "ipc_lock": 14, "sys_admin": 21, "bpf": 39}
AF_XDP_CAPS = ("net_raw", "net_admin", "bpf", "ipc_lock")


# -- pyxsk.capabilities and its ABI -------------------------------------------------------

def test_capability_numbers_and_capget_structs_match_the_header():
    names = sorted(capabilities.NAMES.values())
    consts = names + ["_LINUX_CAPABILITY_VERSION_3", "_LINUX_CAPABILITY_U32S_3"]
    got = gcc_layout(["linux/capability.h"], consts=consts,
                     structs=["struct __user_cap_header_struct", "struct __user_cap_data_struct"])
    for name in consts:
        assert getattr(capability, name) == got["const"][name], name
    sizes = got["sizeof"]
    assert sizes["struct __user_cap_header_struct"] == ctypes.sizeof(capability.user_cap_header)
    assert sizes["struct __user_cap_data_struct"] == ctypes.sizeof(capability.user_cap_data)


def _proc_effective():
    with open("/proc/thread-self/status") as f:
        line = next(line for line in f if line.startswith("CapEff:"))
    return int(line.split()[1], 16)


def test_effective_agrees_with_proc_status():
    mask = _proc_effective()
    expected = {name for number, name in capabilities.NAMES.items() if mask >> number & 1}
    assert capabilities.effective() == expected


def test_hint_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(capabilities, "effective", lambda: frozenset(["CAP_BPF"]))
    text = capabilities.hint("loading an XDP program", ("CAP_BPF", "CAP_NET_ADMIN"), "CAP_SYS_ADMIN")
    assert text == ("loading an XDP program needs CAP_BPF and CAP_NET_ADMIN (or CAP_SYS_ADMIN, "
                    "which kernels before 5.8 require instead of CAP_BPF); "
                    "this process lacks CAP_NET_ADMIN")
    assert capabilities.missing(("CAP_NET_RAW", "CAP_BPF")) == ["CAP_NET_RAW"]
    monkeypatch.setattr(capabilities, "effective", lambda: frozenset(["CAP_SYS_ADMIN"]))
    assert capabilities.missing(("CAP_BPF", "CAP_NET_ADMIN"), "CAP_SYS_ADMIN") == []
    assert capabilities.missing(("CAP_NET_ADMIN",)) == ["CAP_NET_ADMIN"]   # no stand-in here
    held = capabilities.hint("entering", ("CAP_SYS_ADMIN",))
    assert held == "entering needs CAP_SYS_ADMIN" + capabilities.ELSEWHERE


def test_unknown_capability_names_are_refused():
    with pytest.raises(ValueError, match="unknown capabilities CAP_NET_RAWW"):
        capabilities.missing(("CAP_NET_RAWW",))


# -- the unprivileged child ------------------------------------------------------------------

def _mask(caps):
    return sum(1 << CAP_BITS[cap] for cap in caps)


def _setpriv(caps):
    """setpriv options: uid/gid 65534 with no groups, and ``caps`` as the
    inheritable, ambient and bounding sets.  The ambient set survives the
    exec of a non-root program, so the child's effective set is ``caps``."""
    spec = ",".join(["-all"] + ["+" + cap for cap in caps])
    return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
            "--inh-caps=" + spec, "--ambient-caps=" + spec, "--bounding-set=" + spec]


def _child_command(directory, python, ns, caps, args):
    return (["nsenter", "--net=" + os.path.join(netns.NETNS_RUN_DIR, ns)] + _setpriv(caps)
            + [python, os.path.join(directory, CHILD), "%x" % _mask(caps)] + list(args))


def _readable_copy(directory):
    """pyxsk and the child script under ``directory``, readable by anyone:
    the worktree may sit where uid 65534 cannot look."""
    os.chmod(directory, 0o755)
    shutil.copytree(PACKAGE, os.path.join(directory, "pyxsk"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(HERE, CHILD), directory)
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def _python_for_nobody(directory):
    """An interpreter uid 65534 can run, found by trying: this one, else the
    system's python3 (pyenv's live under /root, mode 0700, where that user
    cannot load their libpython)."""
    candidates = [sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")]
    tried = []
    for python in filter(None, candidates):
        probe = subprocess.run(_setpriv(()) + [python, "-c", "import ctypes, json"], cwd=directory,
                               capture_output=True, text=True, timeout=CHILD_TIMEOUT)
        if probe.returncode == 0:
            return python
        last = (probe.stderr.strip().splitlines() or ["exit %d" % probe.returncode])[-1]
        tried.append("%s: %s" % (python, last))
    pytest.skip("no Python interpreter uid %d can run (%s)" % (NOBODY, "; ".join(tried)))


@pytest.fixture(scope="module")
def child_python():
    """(directory with the readable copy, interpreter) for the children."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start children as uid %d with chosen capabilities" % NOBODY)
    for tool in ("setpriv", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip("needs %s (util-linux)" % tool)
    directory = tempfile.mkdtemp(prefix="pyxsk-privileges-")
    try:
        _readable_copy(directory)
        yield directory, _python_for_nobody(directory)
    finally:
        shutil.rmtree(directory)


class Child:
    """One child run: its JSON events, read as they come (``on_event`` may
    act on each, e.g. send frames), bounded by CHILD_TIMEOUT."""

    def __init__(self, child_python, ns, caps, args, pass_fds=()):
        directory, python = child_python
        self.events, self._partial = [], b""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(_child_command(directory, python, ns, caps, args),
                                     cwd=directory, env=env, stdout=subprocess.PIPE,
                                     stderr=self._stderr, pass_fds=pass_fds)

    def run(self, on_event=lambda event: None):
        """Read events until the child exits; returns its exit code."""
        deadline = time.monotonic() + CHILD_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("child still running after %g s; events so far: %s\n%s"
                                         % (CHILD_TIMEOUT, self.events, self.stderr()))
                if not sel.select(remaining):
                    continue
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    break
                for event in self._lines(data):
                    self.events.append(event)
                    on_event(event)
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def _lines(self, data):
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return [json.loads(line) for line in lines if line]

    def stderr(self):
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(CHILD_TIMEOUT)
        self.proc.stdout.close()
        self._stderr.close()

    def of(self, kind):
        return [event for event in self.events if event["event"] == kind]


@contextlib.contextmanager
def child(child_python, ns, caps, *args, pass_fds=()):
    started = Child(child_python, ns, caps, args, pass_fds)
    try:
        yield started
    finally:
        started.close()


def _check_start(run, caps):
    """The child is uid 65534 with no groups and exactly ``caps``, and runs the copy."""
    (start,) = run.of("start")
    assert (start["uid"], start["gid"], start["groups"]) == (NOBODY, NOBODY, []), start
    assert start["capeff"] == _mask(caps), "CapEff %x, granted %x" % (start["capeff"], _mask(caps))
    (imported,) = run.of("imported")
    assert imported["capabilities"] == sorted("CAP_" + cap.upper() for cap in caps)


@pytest.mark.root
def test_xsk_socket_with_only_the_four_capabilities(veth_pair, child_python):
    """Program load, map, attach (netlink, then BPF link), receive, close,
    detach: all of it as uid 65534 with CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF
    and CAP_IPC_LOCK, on an interface of the child's own namespace."""
    a, b = veth_pair.a, veth_pair.b
    sent = {}

    def send_when_ready(event):
        if event["event"] == "ready":
            frames = make_frames(b, a, FRAMES, seed=len(sent) + 7, sizes=(60, 300))
            sent[event["path"]] = frames
            inject(b, frames)

    with child(child_python, a.netns, AF_XDP_CAPS, "receive", a.name, str(FRAMES)) as run:
        code = run.run(send_when_ready)
        assert code == 0, "child exited %d: %s\n%s" % (code, run.events, run.stderr())
    _check_start(run, AF_XDP_CAPS)
    assert [event["path"] for event in run.of("ready")] == ["netlink", "bpf_link"]
    assert all(event["xdp_mode"] in ("drv", "skb") for event in run.of("ready"))
    for event in run.of("received"):
        got = sorted(bytes.fromhex(frame) for frame in event["frames"])
        assert got == sorted(sent[event["path"]]), "%s: %d of %d frames" % (
            event["path"], len(got), FRAMES)
    assert [(event["path"], event["attached"]) for event in run.of("closed")] == [
        ("netlink", None), ("bpf_link", None)]
    assert link.get_link(a.name, netns=a.netns).xdp.attached is None


# (capability left out, attempts, what every refusal message must contain, errno)
REFUSALS = {
    "net_raw": (["xsk"], ["AF_XDP needs CAP_NET_RAW"], errno.EPERM),
    "bpf": (["xsk"], ["this process lacks CAP_BPF"], errno.EPERM),
    "net_admin": (["xsk", "attach"], ["this process lacks CAP_NET_ADMIN"], errno.EPERM),
    "ipc_lock": (["memlock=65536", "xsk"], ["RLIMIT_MEMLOCK", "CAP_IPC_LOCK"], errno.ENOBUFS),
}


@pytest.mark.root
@pytest.mark.parametrize("left_out", sorted(REFUSALS))
def test_refusal_names_the_missing_capability(veth_pair, child_python, left_out):
    attempts, fragments, expected_errno = REFUSALS[left_out]
    caps = tuple(cap for cap in AF_XDP_CAPS if cap != left_out)
    a = veth_pair.a
    with contextlib.ExitStack() as stack:
        pass_fds = ()
        if "attach" in attempts:
            fd, _prog_id = stack.enter_context(xdp_pass_program())
            attempts = [("attach=%d" % fd if what == "attach" else what) for what in attempts]
            pass_fds = (fd,)
        run = stack.enter_context(child(child_python, a.netns, caps, "refuse", a.name, *attempts,
                                        pass_fds=pass_fds))
        code = run.run()
    assert code == 0, "child exited %d: %s\n%s" % (code, run.events, run.stderr())
    _check_start(run, caps)
    refusals = {event["attempt"]: event for event in run.of("refused")}
    setup = [what for what in attempts if what.startswith("memlock=")]
    assert [event["attempt"] for event in run.of("done")] == setup
    for what in attempts:
        if what in setup:
            continue
        event = refusals[what]
        assert event["errno"] == expected_errno, event
        for fragment in fragments:
            assert fragment in event["message"], (fragment, event["message"])
    assert link.get_link(a.name, netns=a.netns).xdp.attached is None


@pytest.mark.root
def test_namespace_refusals_name_cap_sys_admin(veth_pair, child_python):
    """With the four AF_XDP capabilities, creating a namespace or entering
    another one (setns) is refused for want of CAP_SYS_ADMIN, and says so."""
    name = unique_name("np")
    with child(child_python, veth_pair.a.netns, AF_XDP_CAPS, "refuse", veth_pair.a.name,
               "netns_create=" + name, "netns_enter=" + veth_pair.b.netns) as run:
        code = run.run()
    assert code == 0, "child exited %d: %s\n%s" % (code, run.events, run.stderr())
    _check_start(run, AF_XDP_CAPS)
    assert not netns.exists(name)
    refusals = {event["attempt"].partition("=")[0]: event for event in run.of("refused")}
    assert sorted(refusals) == ["netns_create", "netns_enter"] and not run.of("done")
    for event in refusals.values():
        assert event["errno"] == errno.EPERM, event
        assert "needs CAP_SYS_ADMIN; this process lacks CAP_SYS_ADMIN" in event["message"], event
    assert "mount" in refusals["netns_create"]["message"]
    assert "entering another network namespace" in refusals["netns_enter"]["message"]


@pytest.mark.root
def test_namespace_names_need_write_access_to_run_netns(veth_pair, child_python):
    """CAP_SYS_ADMIN without being root: the mounts would be allowed, but
    /run/netns is root's directory, and the refusal says so."""
    caps = AF_XDP_CAPS + ("sys_admin",)
    name = unique_name("np")
    with child(child_python, veth_pair.a.netns, caps, "refuse", veth_pair.a.name,
               "netns_create=" + name) as run:
        code = run.run()
    assert code == 0, "child exited %d: %s\n%s" % (code, run.events, run.stderr())
    _check_start(run, caps)
    assert not netns.exists(name)
    (refused,) = run.of("refused")
    assert refused["errno"] == errno.EACCES, refused
    assert "/run/netns belongs to root: writing there needs root or CAP_DAC_OVERRIDE" \
        in refused["message"], refused
