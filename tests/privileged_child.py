"""The other half of tests/test_privileges.py: run as an unprivileged user
(uid 65534) holding only some capabilities, already inside a test network
namespace, with a copy of pyxsk next to it.

    privileged_child.py CAPEFF COMMAND ARG...

CAPEFF is the effective capability mask (hex) the parent granted; the child
checks it in /proc/self/status before anything else.  Every result is one
JSON object on a line of stdout, so the parent can react (send frames) while
the child waits.  Commands:

``receive IFACE COUNT``
    For each attach path (netlink, then BPF link): an XskSocket on IFACE,
    "ready", up to COUNT test frames received (hex), closed, and whether a
    program is left on IFACE.
``refuse IFACE ATTEMPT...``
    Each ATTEMPT in turn, reporting the errno and message of its refusal:
    ``xsk`` (an XskSocket), ``attach=FD`` (netlink attach of program fd FD),
    ``memlock=BYTES`` (lower RLIMIT_MEMLOCK first), ``netns_create=NAME``,
    ``netns_enter=NAME``.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ETH_P_TEST = b"\x88\xb5"          # the ethertype of tests/traffic.py's frames
RECEIVE_TIMEOUT = 10.0            # seconds for all frames of one socket


def say(**fields):
    print(json.dumps(fields), flush=True)


def effective_mask():
    """CapEff of /proc/self/status: read here, independently of pyxsk."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    raise RuntimeError("no CapEff line in /proc/self/status")


def receive_frames(xsk, count):
    frames = []
    deadline = time.monotonic() + RECEIVE_TIMEOUT
    while len(frames) < count and time.monotonic() < deadline:
        for frame in xsk.recv_bytes(64, timeout=0.2):
            if frame[12:14] == ETH_P_TEST:
                frames.append(frame.hex())
    return frames


def receive(pyxsk, iface, count):
    from pyxsk.net import link
    for use_bpf_link in (False, True):
        path = "bpf_link" if use_bpf_link else "netlink"
        with pyxsk.XskSocket(iface, bpf_link=use_bpf_link) as xsk:
            say(event="ready", path=path, xdp_mode=xsk.xdp_mode, prog_id=xsk.program.id)
            frames = receive_frames(xsk, int(count))
            say(event="received", path=path, frames=frames)
        say(event="closed", path=path, attached=link.get_link(iface).xdp.attached)


def attempt(pyxsk, iface, what):
    """Run one ATTEMPT; the refusal is the expected outcome."""
    from pyxsk import _libc
    from pyxsk.net import link, netns
    name, _, arg = what.partition("=")
    if name == "xsk":
        pyxsk.XskSocket(iface).close()
    elif name == "attach":
        link.attach_xdp(iface, int(arg), mode="skb")
        link.detach_xdp(iface, mode="skb")
    elif name == "memlock":
        _libc.setrlimit(_libc.RLIMIT_MEMLOCK, int(arg), int(arg))
    elif name == "netns_create":
        netns.create(arg)
        netns.delete(arg)
    elif name == "netns_enter":
        with netns.entered(arg):
            pass
    else:
        raise ValueError("unknown attempt %r" % what)


def refuse(pyxsk, iface, *attempts):
    for what in attempts:
        try:
            attempt(pyxsk, iface, what)
        except OSError as e:
            say(event="refused", attempt=what, errno=e.errno, message=str(e))
        else:
            say(event="done", attempt=what)


def main(argv):
    granted, command, args = int(argv[1], 16), argv[2], argv[3:]
    held = effective_mask()
    say(event="start", uid=os.getuid(), gid=os.getgid(), groups=os.getgroups(), capeff=held,
        python=sys.version.split()[0])
    if held != granted:
        return 2
    import pyxsk
    from pyxsk import capabilities
    say(event="imported", file=pyxsk.__file__, capabilities=sorted(capabilities.effective()))
    if not pyxsk.__file__.startswith(HERE + os.sep):
        return 3
    {"receive": receive, "refuse": refuse}[command](pyxsk, *args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
