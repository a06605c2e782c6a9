#!/usr/bin/env python3
"""Packet-rate benchmarks: pyxsk against the C reference and Python AF_PACKET.

Every contender runs on the same veth pair, in the same run, one after the
other and repeated (medians), and the result is printed as ratios: absolute
rates drift 10-20 % between runs on these VMs, ratios much less.

    sudo python3 tools/bench.py txonly            # pyxsk vs C vs AF_PACKET send
    sudo python3 tools/bench.py txonly --seconds 5 --repeat 3 --batch 64

The C reference is ../shared/bench/xskbench.c (libxdp); the script builds it
into /tmp when it is missing (needs gcc, libxdp-dev, libbpf-dev).  Topology:
namespaces pxb-a/pxb-b, veth pxb0 (10.231.9.1) <-> pxb1 (10.231.9.2), sender
pinned to CPU 0, receiver to CPU 1, as ../shared/bench/netns.sh does it.
"""

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

NS_A, NS_B, DEV_A, DEV_B = "pxb-a", "pxb-b", "pxb0", "pxb1"
MAC_A, MAC_B = "02:70:78:00:00:01", "02:70:78:00:00:02"
IP_A, IP_B = "10.231.9.1", "10.231.9.2"
SENDER_CPU, RECEIVER_CPU = "0", "1"
XSKBENCH_SRC = os.path.join(REPO, "..", "shared", "bench", "xskbench.c")
XSKBENCH = "/tmp/xskbench"


# -- topology -------------------------------------------------------------------

def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def topology_down():
    for ns in (NS_A, NS_B):
        if os.path.exists("/run/netns/" + ns):
            sh("ip", "netns", "del", ns)


def topology_up(queues=1, threaded=False, peer_tso=True):
    topology_down()
    q = str(queues)
    sh("ip", "netns", "add", NS_A)
    sh("ip", "netns", "add", NS_B)
    sh("ip", "link", "add", DEV_A, "netns", NS_A, "numtxqueues", q, "numrxqueues", q,
       "address", MAC_A, "type", "veth", "peer", "name", DEV_B, "netns", NS_B,
       "numtxqueues", q, "numrxqueues", q, "address", MAC_B)
    for ns, dev, ip, peer_ip, peer_mac in ((NS_A, DEV_A, IP_A, IP_B, MAC_B),
                                           (NS_B, DEV_B, IP_B, IP_A, MAC_A)):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev)
        sh("ip", "-n", ns, "neigh", "replace", peer_ip, "lladdr", peer_mac, "dev", dev,
           "nud", "permanent")
        sh("ip", "-n", ns, "link", "set", dev, "up")
    if not peer_tso:
        sh("ip", "netns", "exec", NS_A, "ethtool", "-K", DEV_A, "tso", "off")
    if threaded:
        # the flag can only be set while the veth has a NAPI instance (GRO on)
        sh("ip", "netns", "exec", NS_B, "ethtool", "-K", DEV_B, "gro", "on")
        sh("ip", "netns", "exec", NS_B, "sh", "-c", "echo 1 > /sys/class/net/%s/threaded" % DEV_B)
        sh("ip", "netns", "exec", NS_B, "ethtool", "-K", DEV_B, "gro", "off")


def pin_napi_threads(cpu):
    """Threaded NAPI: the veth's napi/<dev>-N kernel threads go on the receiver's CPU."""
    out = sh("ps", "-eo", "pid,comm", check=False).stdout
    for line in out.splitlines():
        pid, _, comm = line.strip().partition(" ")
        if comm.strip().startswith("napi/%s" % DEV_B):
            sh("taskset", "-pc", cpu, pid, check=False)


def build_xskbench():
    if os.path.exists(XSKBENCH):
        return XSKBENCH
    if not os.path.exists(XSKBENCH_SRC):
        sys.exit("the C reference %s is missing" % XSKBENCH_SRC)
    res = subprocess.run(["gcc", "-O2", "-Wall", "-o", XSKBENCH, XSKBENCH_SRC, "-lxdp", "-lbpf"],
                         capture_output=True, text=True)
    if res.returncode:
        sys.exit("building the C reference failed (apt-get install libxdp-dev libbpf-dev):\n"
                 + res.stderr)
    return XSKBENCH


# -- frames ---------------------------------------------------------------------

def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ipv4_checksum(header):
    total = sum(struct.unpack("!10H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def udp_frame(size=64):
    """The frame xskbench and ../shared/bench/udp64.trafgen send: A -> B, UDP 9 -> 9."""
    payload = bytes(size - 14 - 20 - 8)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 0, 0, 64, 17, 0,
                     socket.inet_aton(IP_A), socket.inet_aton(IP_B))
    ip = ip[:10] + struct.pack("!H", ipv4_checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", 9, 9, 8 + len(payload), 0)
    return mac(MAC_B) + mac(MAC_A) + b"\x08\x00" + ip + udp + payload


# -- workers (run inside the namespaces, pinned) ----------------------------------

class Meter:
    """Counts packets; the rate is taken over [warmup, duration] like xskbench -w."""

    def __init__(self, duration, warmup):
        self.t0 = time.monotonic()
        self.start = self.t0 + warmup
        self.end = self.t0 + duration
        self.count = 0
        self.base = None

    def add(self, n):
        self.count += n
        now = time.monotonic()
        if self.base is None and now >= self.start:
            self.base = (now, self.count)
        return now < self.end

    def report(self, key):
        now = time.monotonic()
        t, c = self.base or (self.t0, 0)
        print("AVG %s=%.0f" % (key, (self.count - c) / max(1e-9, now - t)), flush=True)


def worker_pyxsk_txonly(args):
    from pyxsk.xsk import Socket
    frame = udp_frame(args.size)
    meter = Meter(args.seconds, args.warmup)
    with Socket(DEV_A, 0, rx_size=0, tx_size=2048, num_frames=4096) as sock:
        sock.send([frame] * 2048)
        while meter.add(sock.retransmit(len(frame), args.batch)):
            pass
        meter.report("tx_pps")


def worker_afpacket_txonly(args):
    frame = udp_frame(args.size)
    meter = Meter(args.seconds, args.warmup)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((DEV_A, 0))
    send = s.send
    n = 0
    while True:
        for _ in range(1024):
            try:
                send(frame)
                n += 1
            except BlockingIOError:
                pass
        if not meter.add(n):
            break
        n = 0
    meter.report("tx_pps")


WORKERS = {"pyxsk-txonly": worker_pyxsk_txonly, "afpacket-txonly": worker_afpacket_txonly}


# -- the runs -----------------------------------------------------------------------

def in_ns(ns, cpu, argv):
    return ["ip", "netns", "exec", ns, "taskset", "-c", cpu] + argv


def parse_rate(output, key):
    for line in output.splitlines():
        if line.startswith("AVG"):
            for field in line.split():
                if field.startswith(key + "="):
                    return float(field.split("=", 1)[1])
    raise RuntimeError("no %s in output:\n%s" % (key, output))


def run_contender(argv, key, timeout):
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if res.returncode:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), res.returncode,
                                                      res.stdout, res.stderr))
    return parse_rate(res.stdout, key)


def with_sink(xskbench, seconds, fn):
    """Run ``fn`` while C rxdrop receives on B (the receiver for every sender)."""
    sink = subprocess.Popen(in_ns(NS_B, RECEIVER_CPU, [xskbench, "-i", DEV_B, "-m", "rxdrop",
                                                      "-p", "-Q", "-d", str(seconds + 3)]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        return fn()
    finally:
        sink.wait(timeout=seconds + 15)


def txonly_contenders(args, xskbench):
    me = [sys.executable, os.path.abspath(__file__), "_worker"]
    common = ["--seconds", str(args.seconds), "--warmup", str(args.warmup), "--size", str(args.size)]
    return [
        ("C xskbench", in_ns(NS_A, SENDER_CPU, [
            xskbench, "-i", DEV_A, "-m", "txonly", "-L", "none", "-Q", "-d", str(args.seconds),
            "-w", str(args.warmup), "-s", str(args.size), "-D", MAC_B, "-A", MAC_A,
            "-I", IP_B, "-J", IP_A])),
        ("pyxsk", in_ns(NS_A, SENDER_CPU, me + ["pyxsk-txonly", "--batch", str(args.batch)] + common)),
        ("AF_PACKET", in_ns(NS_A, SENDER_CPU, me + ["afpacket-txonly"] + common)),
    ]


def bench_txonly(args):
    xskbench = build_xskbench()
    topology_up()
    try:
        contenders = txonly_contenders(args, xskbench)
        rates = {name: [] for name, _ in contenders}
        for round_ in range(args.repeat):
            for name, argv in contenders:
                rate = with_sink(xskbench, args.seconds,
                                 lambda: run_contender(argv, "tx_pps", args.seconds + 30))
                rates[name].append(rate)
                print("round %d  %-12s %12.0f pps" % (round_ + 1, name, rate), flush=True)
    finally:
        topology_down()
    report("txonly (64 B frames, C rxdrop receiving)", rates,
           [("pyxsk", "C xskbench", 0.9), ("pyxsk", "AF_PACKET", 1.5)])


def report(title, rates, ratios):
    med = {name: statistics.median(v) for name, v in rates.items()}
    print("\n%s, medians of %d runs:" % (title, len(next(iter(rates.values())))))
    for name, value in med.items():
        print("  %-12s %12.0f pps" % (name, value))
    for a, b, target in ratios:
        r = med[a] / med[b] if med[b] else float("inf")
        print("  %s / %s = %.2f  (target >= %.2f: %s)" % (a, b, r, target,
                                                          "met" if r >= target else "NOT met"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("txonly", help="transmit 64-byte UDP frames as fast as possible")
    w = sub.add_parser("_worker", help=argparse.SUPPRESS)
    w.add_argument("worker", choices=sorted(WORKERS))
    for q in (t, w):
        q.add_argument("--seconds", type=float, default=5.0)
        q.add_argument("--warmup", type=float, default=1.0)
        q.add_argument("--size", type=int, default=64)
        q.add_argument("--batch", type=int, default=256,
                       help="descriptors pyxsk moves per call (default 256)")
    t.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.mode == "_worker":
        return WORKERS[args.worker](args)
    if os.geteuid() != 0:
        sys.exit("benchmarks need root (namespaces, veth, AF_XDP)")
    for tool in ("ip", "taskset"):
        if shutil.which(tool) is None:
            sys.exit("needs %s" % tool)
    return bench_txonly(args)


if __name__ == "__main__":
    main()
