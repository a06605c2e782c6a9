"""The libc wrappers the socket code does not exercise on its own:
recvmsg with pyxsk's msghdr/iovec, and prlimit."""

import ctypes
import errno
import os
import resource
import socket

import pytest

from pyxsk import _libc


def test_recvmsg_fills_iovecs_and_reports_truncation():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.send(b"hello, AF_XDP")
        first, second = ctypes.create_string_buffer(5), ctypes.create_string_buffer(4)
        iov = (_libc.iovec * 2)(_libc.iovec(ctypes.addressof(first), 5),
                                _libc.iovec(ctypes.addressof(second), 4))
        msg = _libc.msghdr(msg_iov=iov, msg_iovlen=2)
        n = _libc.recvmsg(b.fileno(), msg, _libc.MSG_TRUNC)
        assert n == len(b"hello, AF_XDP")              # MSG_TRUNC: the real length
        assert first.raw + second.raw == b"hello, AF"            # 5 + 4 bytes
        assert msg.msg_flags & _libc.MSG_TRUNC
        with pytest.raises(BlockingIOError) as info:
            _libc.recvmsg(b.fileno(), msg, _libc.MSG_DONTWAIT, call="recvmsg(empty)")
        assert info.value.errno == errno.EAGAIN and "recvmsg(empty)" in str(info.value)


def test_prlimit_reads_and_sets_this_process():
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    assert _libc.prlimit(0, _libc.RLIMIT_MEMLOCK) == (soft & _libc.RLIM_INFINITY,
                                                       hard & _libc.RLIM_INFINITY)
    assert _libc.getrlimit(_libc.RLIMIT_MEMLOCK) == _libc.prlimit(os.getpid(), _libc.RLIMIT_MEMLOCK)
    old = _libc.prlimit(0, _libc.RLIMIT_MEMLOCK, (soft & _libc.RLIM_INFINITY, hard & _libc.RLIM_INFINITY))
    assert old == _libc.prlimit(0, _libc.RLIMIT_MEMLOCK)
    with pytest.raises(ProcessLookupError):
        _libc.prlimit(2 ** 22 + 12345, _libc.RLIMIT_MEMLOCK)
