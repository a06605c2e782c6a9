"""Shared test plumbing: the ``root`` marker, leak counters, and the
pyxsk.testing plugin (fixtures ``veth_pair``, ``make_veth_pair``).

Tests marked ``root`` need root and a kernel with AF_XDP, bpf(2), veth and
network namespaces; elsewhere they skip with the reason.  With
``PYXSK_FORBID_SKIP=1`` (``.ci/run`` sets it) any skipped test fails the run,
so CI proves the real tests ran.
"""

import errno
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # run from a plain copy: tests import ../pyxsk

from pyxsk import _libc  # noqa: E402
from pyxsk.uapi import if_xdp  # noqa: E402

pytest_plugins = ["pyxsk.testing"]     # veth_pair, make_veth_pair


def _root_skip_reason():
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_SYS_ADMIN for namespaces)"
    try:
        fd = _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0)
    except OSError as e:
        if e.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
            return "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)"
        raise
    _libc.close(fd)
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "root: needs root and a kernel with AF_XDP, bpf(2), veth and netns")


def pytest_collection_modifyitems(config, items):
    if not any("root" in item.keywords for item in items):
        return
    reason = _root_skip_reason()
    if reason:
        for item in items:
            if "root" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("PYXSK_FORBID_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        lines = ["PYXSK_FORBID_SKIP=1 but %d test(s) skipped:" % len(skipped)]
        for rep in skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            lines.append("  %s: %s" % (rep.nodeid, reason))
        sys.stderr.write("\n".join(lines) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- leak accounting ----------------------------------------------------------

def open_fds():
    return set(os.listdir("/proc/self/fd"))


def mapping_count():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def socket_mappings():
    """Mappings of sockets: the AF_XDP rings (shown as socket:[inode])."""
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if "socket:[" in line)


def is_mapped(addr):
    """True if a mapping starts at ``addr``."""
    start = "%x-" % addr
    with open("/proc/self/maps") as f:
        return any(line.startswith(start) for line in f)


@pytest.fixture
def no_leaks():
    """Fails the test if it leaves an fd open or a ring mapped.  (The total
    mapping count is not used here: Python's allocator maps and unmaps
    arenas of its own; tests check their UMEM ranges with is_mapped.)"""
    fds_before, rings_before = open_fds(), socket_mappings()
    yield
    leaked = open_fds() - fds_before
    assert not leaked, "file descriptors leaked: %s" % {
        fd: os.readlink("/proc/self/fd/" + fd) for fd in leaked
        if os.path.exists("/proc/self/fd/" + fd)}
    assert socket_mappings() <= rings_before, "ring mappings leaked: %d before, %d after" % (
        rings_before, socket_mappings())

