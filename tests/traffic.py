"""Test traffic: numbered frames of mixed sizes, an AF_PACKET witness that
captures them, and an AF_PACKET injector -- the kernel's own socket as the
independent party on the other end of a veth."""

import random
import socket
import struct
import threading
import time

from pyxsk.net import netns

ETH_P_TEST = 0x88B5          # IEEE 802 local experimental ethertype
SO_RCVBUFFORCE = 33
RCVBUF = 64 << 20


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def make_frames(src, dst, count, seed=1, sizes=(60, 1514), first=0):
    """``count`` frames from end ``src`` to end ``dst`` (objects with .mac),
    numbered from ``first`` at byte 14, seeded payload, sizes in ``sizes``."""
    rng = random.Random(seed)
    head = mac_bytes(dst.mac) + mac_bytes(src.mac) + struct.pack("!H", ETH_P_TEST)
    frames = []
    for seq in range(first, first + count):
        size = rng.randint(*sizes)
        frames.append(head + struct.pack("!I", seq) + rng.randbytes(size - 18)
                      if hasattr(rng, "randbytes") else
                      head + struct.pack("!I", seq) + bytes(rng.getrandbits(8) for _ in range(size - 18)))
    return frames


def is_test_frame(frame):
    return len(frame) >= 18 and bytes(frame[12:14]) == struct.pack("!H", ETH_P_TEST)


def packet_socket(end, protocol=ETH_P_TEST):
    """An AF_PACKET socket bound to veth end ``end`` in its namespace."""
    with netns.entered(end.netns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        sock.bind((end.name, protocol))
    return sock


def inject(end, frames):
    """Send ``frames`` out of ``end`` through AF_PACKET."""
    sock = packet_socket(end)
    try:
        for frame in frames:
            sock.send(frame)
    finally:
        sock.close()


class Capture:
    """Collect test frames arriving at ``end`` in a thread, until ``count``
    have arrived or ``timeout`` seconds pass."""

    def __init__(self, end, count, timeout=30.0):
        self.sock = packet_socket(end)
        self.sock.settimeout(0.2)
        self.count, self.deadline = count, time.monotonic() + timeout
        self.frames = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while len(self.frames) < self.count and time.monotonic() < self.deadline:
            try:
                self.frames.append(self.sock.recv(65536))
            except socket.timeout:
                continue

    def wait(self):
        self.thread.join(max(0.0, self.deadline - time.monotonic()) + 1)
        self.sock.close()
        return self.frames


def receive(xsk, count, timeout=10.0, batch=256):
    """Copies of the next ``count`` test frames reaching ``xsk`` (others,
    such as IPv6 neighbour discovery, are skipped), within ``timeout``."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for frame in xsk.recv_bytes(batch, timeout=0.2):
            if is_test_frame(frame):
                got.append(frame)
    return got
