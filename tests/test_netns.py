"""Named and anonymous network namespaces, entering them, running code inside."""

import os
import subprocess

import pytest

from pyxsk import netns
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
