"""End to end with a program from a clang-built object: udp_xsk.o (tests/
bpf_src/udp_xsk.c), loaded by pyxsk with its UDP port set as a const
volatile, serves an XskSocket on a veth pair.  UDP frames to that port
arrive on the socket byte for byte and in order; other traffic (UDP to
another port, TCP) still reaches the kernel's sockets; the program's .bss
counters agree."""

import random
import socket
import struct

import pytest

from bpfobj import corpus  # noqa: F401  (fixture)
from traffic import inject, mac_bytes
from pyxsk import XskSocket, bpf
from pyxsk.net import link, netns

pytestmark = pytest.mark.root

PORT = 4242
OTHER_PORT = 4243
TIMEOUT = 10.0


def _checksum(header):
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def udp_frame(src, dst, dport, payload, sport=40000):
    """Ethernet + IPv4 (with its checksum) + UDP from end ``src`` to end ``dst``."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64,
                               socket.IPPROTO_UDP, 0, src.ipv4.ip.packed, dst.ipv4.ip.packed))
    struct.pack_into("!H", ip, 10, _checksum(bytes(ip)))
    return mac_bytes(dst.mac) + mac_bytes(src.mac) + b"\x08\x00" + bytes(ip) + udp


def our_frames(pair, count, seed):
    rng = random.Random(seed)
    return [udp_frame(pair.a, pair.b, PORT, struct.pack("!I", i) + bytes(
        rng.getrandbits(8) for _ in range(rng.randint(0, 1400)))) for i in range(count)]


def receive_all(xsk, count):
    """Everything the socket receives until ``count`` frames came or
    TIMEOUT passed (then a last short wait for any extra)."""
    got = []
    for _ in range(int(TIMEOUT / 0.1)):
        got += xsk.recv_bytes(256, timeout=0.1)
        if len(got) >= count:
            break
    return got + xsk.recv_bytes(256, timeout=0.1)


def counters(obj):
    """(redirected, passed) from the program's .bss, where clang put them
    (in no particular order: the object's symbols say)."""
    bss = obj.maps[".bss"][0]
    return tuple(struct.unpack_from("<Q", bss, obj.spec.variables[name].offset)[0]
                 for name in ("redirected", "passed"))


def kernel_udp(end, port):
    with netns.entered(end.netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((str(end.ipv4.ip), port))
    sock.settimeout(TIMEOUT)
    return sock


def kernel_tcp_exchange(pair, port):
    """A TCP connection from end a to a listener on end b, one message each
    way: proof that non-UDP traffic still takes the kernel's path."""
    with netns.entered(pair.b.netns):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind((str(pair.b.ipv4.ip), port))
        server.listen(1)
    with netns.entered(pair.a.netns):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for s in (server, client):
        s.settimeout(TIMEOUT)
    try:
        client.connect((str(pair.b.ipv4.ip), port))
        conn, _ = server.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            client.sendall(b"ping over tcp")
            got = conn.recv(100)
            conn.sendall(b"pong")
            return got, client.recv(100)
    finally:
        client.close()
        server.close()


def test_udp_to_the_configured_port_reaches_the_xsk_byte_exact(veth_pair, corpus):
    pair = veth_pair
    frames = our_frames(pair, 300, seed=3)
    with bpf.load_object(corpus("udp_xsk"), constants={"cfg_port": PORT}) as obj:
        prog = obj.programs["xdp_udp_to_xsk"]
        other = kernel_udp(pair.b, OTHER_PORT)
        try:
            with netns.entered(pair.b.netns):
                xsk = XskSocket(pair.b.name, 0, program=prog, xskmap=obj.maps["xsks_map"])
            with xsk:
                assert set(link.get_link(pair.b.name, netns=pair.b.netns).xdp.prog_ids().values()) \
                    == {prog.id}
                inject(pair.a, frames[:150])
                inject(pair.a, [udp_frame(pair.a, pair.b, OTHER_PORT, b"to the kernel %d" % i)
                                for i in range(20)])
                inject(pair.a, frames[150:])
                got = receive_all(xsk, len(frames))
                assert len(got) == len(frames), "received %d of %d" % (len(got), len(frames))
                for i, (frame, sent) in enumerate(zip(got, frames)):
                    assert frame == sent, "frame %d differs" % i
                assert sorted(other.recv(100) for _ in range(20)) == \
                    sorted(b"to the kernel %d" % i for i in range(20))
                assert kernel_tcp_exchange(pair, PORT) == (b"ping over tcp", b"pong")
                redirected, passed = counters(obj)
                assert redirected == len(frames)
                assert passed >= 20 + 3          # the other UDP port, the TCP handshake and data
                assert xsk.statistics().rx_dropped == 0
            assert link.get_link(pair.b.name, netns=pair.b.netns).xdp.prog_ids() == {}
        finally:
            other.close()


def test_the_port_constant_decides_which_frames_the_xsk_gets(veth_pair, corpus):
    """The same object loaded with cfg_port = OTHER_PORT: frames to PORT now
    go to the kernel, frames to OTHER_PORT to the socket.  No xskmap= here:
    XskSocket finds the program's only XSKMAP itself."""
    pair = veth_pair
    theirs = [udp_frame(pair.a, pair.b, OTHER_PORT, b"for the xsk %d" % i) for i in range(50)]
    with bpf.load_object(corpus("udp_xsk"), constants={"cfg_port": OTHER_PORT}) as obj:
        kernel = kernel_udp(pair.b, PORT)
        try:
            with netns.entered(pair.b.netns):
                xsk = XskSocket(pair.b.name, 0, program=obj.programs["xdp_udp_to_xsk"])
            with xsk:
                assert xsk.xskmap is not None and xsk.xskmap.id == obj.maps["xsks_map"].id
                inject(pair.a, [udp_frame(pair.a, pair.b, PORT, b"kernel %d" % i) for i in range(50)])
                inject(pair.a, theirs)
                assert sorted(kernel.recv(100) for _ in range(50)) == \
                    sorted(b"kernel %d" % i for i in range(50))
                assert receive_all(xsk, len(theirs)) == theirs
                assert counters(obj)[0] == len(theirs)
        finally:
            kernel.close()


def test_frames_of_a_queue_without_a_socket_reach_the_kernel(veth_pair, corpus):
    """bpf_redirect_map's fallback (XDP_PASS): with nothing in xsks_map the
    program's UDP frames go on to the kernel, and it still counts them."""
    pair = veth_pair
    with bpf.load_object(corpus("udp_xsk"), constants={"cfg_port": PORT}) as obj:
        prog = obj.programs["xdp_udp_to_xsk"]
        kernel = kernel_udp(pair.b, PORT)
        link.attach_xdp(pair.b.index, prog.fileno(), mode="drv", netns=pair.b.netns)
        try:
            inject(pair.a, [udp_frame(pair.a, pair.b, PORT, b"no socket %d" % i) for i in range(30)])
            assert sorted(kernel.recv(100) for _ in range(30)) == \
                sorted(b"no socket %d" % i for i in range(30))
            assert counters(obj)[0] == 30
        finally:
            link.detach_xdp(pair.b.index, mode="drv", netns=pair.b.netns)
            kernel.close()
