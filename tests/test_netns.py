"""Named and anonymous network namespaces, entering them, running code inside."""

import errno
import os
import subprocess

import pytest

from pyxsk import _libc
from pyxsk.net import netns
from pyxsk.testing import unique_name

SELF = "/proc/thread-self/ns/net"


def current():
    """The calling thread's namespace, as its nsfs inode."""
    return os.stat(SELF).st_ino


def ns_of_fd(fd):
    return os.fstat(fd).st_ino


@pytest.mark.root
def test_named_namespace_is_seen_by_ip_and_removed(no_leaks):
    name = unique_name("ns")
    netns.create(name)
    try:
        assert netns.exists(name) and name in netns.names()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True).stdout.split()
        assert name in listed
        with pytest.raises(FileExistsError):
            netns.create(name)
    finally:
        netns.delete(name)
    assert not netns.exists(name) and name not in netns.names()


@pytest.mark.root
def test_entered_by_name_path_and_fd_restores_the_thread(no_leaks):
    name = unique_name("ns")
    netns.create(name)
    home = current()
    try:
        fd = netns.open_fd(name)
        try:
            inside = ns_of_fd(fd)
            assert inside != home
            for target in (name, os.path.join(netns.NETNS_RUN_DIR, name), fd):
                with netns.entered(target):
                    assert current() == inside
                assert current() == home
            with pytest.raises(KeyError):
                with netns.entered(fd):
                    raise KeyError("inside")
            assert current() == home
            assert os.fstat(fd)      # entered() left the caller's fd open
        finally:
            os.close(fd)
    finally:
        netns.delete(name)


@pytest.mark.root
def test_anonymous_namespace_and_run_in(no_leaks):
    home = current()
    fd = netns.create_anonymous()
    try:
        inside = ns_of_fd(fd)
        assert os.readlink("/proc/self/fd/%d" % fd).startswith("net:[")
        assert inside != home and current() == home
        assert netns.run_in(fd, current) == inside
        assert netns.run_in(fd, lambda a, b=0: a + b, 2, b=3) == 5
        assert current() == home
    finally:
        os.close(fd)


def test_bad_names_and_missing_namespaces():
    with pytest.raises(ValueError):
        netns.open_fd("../etc")
    with pytest.raises(ValueError):
        netns.open_fd(3.5)
    with pytest.raises(FileNotFoundError, match="no network namespace"):
        netns.open_fd("pxt-surely-absent")


@pytest.fixture
def setns_calls(monkeypatch):
    """Every setns(2) pyxsk makes, recorded, then passed on to the kernel."""
    calls = []
    real = _libc.setns

    def setns(fd, nstype, call="setns", hints=None):
        calls.append(call)
        return real(fd, nstype, call=call, hints=hints)

    monkeypatch.setattr(_libc, "setns", setns)
    return calls


def test_entering_the_own_namespace_makes_no_setns(setns_calls, no_leaks):
    """setns(2) needs CAP_SYS_ADMIN even for the namespace a thread is in:
    entered() must not ask for it there (by path or by fd)."""
    home = current()
    fd = os.open(SELF, os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert netns.is_current(fd)
        for target in (SELF, "/proc/%d/ns/net" % os.getpid(), fd):
            with netns.entered(target):
                assert current() == home
        assert netns.run_in(fd, current) == home
        with pytest.raises(KeyError):
            with netns.entered(fd):
                raise KeyError("inside")
    finally:
        os.close(fd)
    assert setns_calls == []


@pytest.mark.root
def test_entering_another_namespace_still_switches(setns_calls, no_leaks):
    fd = netns.create_anonymous()
    try:
        assert not netns.is_current(fd)
        del setns_calls[:]               # create_anonymous went in and out
        with netns.entered(fd):
            assert current() == ns_of_fd(fd)
            assert netns.is_current(fd)
        assert setns_calls == ["setns(fd %d)" % fd, "setns(back to the original namespace)"]
    finally:
        os.close(fd)


def test_a_file_that_is_no_namespace_is_refused(tmp_path):
    path = tmp_path / "plain"
    path.write_bytes(b"")
    with pytest.raises(OSError, match="is not a network namespace") as info:
        with netns.entered(str(path)):
            pytest.fail("entered a plain file")
    assert info.value.errno == errno.EINVAL
