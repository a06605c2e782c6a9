#!/usr/bin/env python3
"""Packet-rate benchmarks: pyxsk against the C reference and Python AF_PACKET.

Every contender runs on the same veth pair, in the same run, one after the
other and repeated (medians), and the result is printed as ratios: absolute
rates drift 10-20 % between runs on these VMs, ratios much less.

    sudo python3 tools/bench.py all                # every mode below
    sudo python3 tools/bench.py rxdrop --seconds 5 --repeat 3

Modes.  txonly: senders on A, C rxdrop receiving on B.  rxdrop, rx-touch
(read every frame's ethertype) and l2fwd (swap MACs, send back): receivers
on B, C txonly sending from A.  Receivers are measured with threaded NAPI
on B, its kernel thread pinned to the receiver's CPU: in the default veth
topology the sender's CPU does the receiver's kernel work and every receiver
looks the same.  Receivers block in poll() on an empty ring.

Senders: "C xskbench", "pyxsk" (a batch per kick: XDP_MAX_TX_SKB_BUDGET,
Linux 6.17+), "C batch" (xskbench with the same budget) and "AF_PACKET".
Receiving contenders: "C xskbench" (the reference as its README runs it),
"pyxsk" (as pyxsk recommends for throughput: SCHED_BATCH through
pyxsk.scheduling.coalesced_wakeups and 8192-entry rings; l2fwd also sends a
batch per kick, XDP_MAX_TX_SKB_BUDGET), "pyxsk plain" (the
default policy and xskbench's ring sizes), "C batch" (xskbench under the
same SCHED_BATCH and rings as "pyxsk": the like-for-like view) and
"AF_PACKET" (the standard library's recv_into).  Targets are judged on
pyxsk against C xskbench; the other ratios are printed beside them.

The C reference is ../shared/bench/xskbench.c (libxdp); the script builds it
into /tmp when it is missing (needs gcc, libxdp-dev, libbpf-dev).  Topology:
namespaces pxb-a/pxb-b, veth pxb0 (10.231.9.1) <-> pxb1 (10.231.9.2), sender
pinned to CPU 0, receiver (and B's NAPI thread) to CPU 1, as
../shared/bench/netns.sh does it.  Compare like with like: every Python
contender runs under the same interpreter (--python).
"""

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from pyxsk.cli import benchmark, loops  # noqa: E402  (the checkout's pyxsk, not an installed one)

NS_A, NS_B, DEV_A, DEV_B = "pxb-a", "pxb-b", "pxb0", "pxb1"
MAC_A, MAC_B = "02:70:78:00:00:01", "02:70:78:00:00:02"
IP_A, IP_B = "10.231.9.1", "10.231.9.2"
SENDER_CPU, RECEIVER_CPU = "0", "1"
RELEASE_PAUSE = 0.5          # seconds between runs that bind the same queue
XSKBENCH_SRC = os.path.join(REPO, "..", "shared", "bench", "xskbench.c")
XSKBENCH = "/tmp/xskbench"
PLAIN_RING = 2048            # xskbench's default RX/TX ring size (its fill ring is twice that)
COALESCED_RING = 8192        # scheduling.rx_ring_size(2e6): a scheduler slice of frames at 2 M/s


# -- topology -------------------------------------------------------------------

def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def topology_down():
    for ns in (NS_A, NS_B):
        if os.path.exists("/run/netns/" + ns):
            sh("ip", "netns", "del", ns)


def topology_up(queues=1, threaded=False):
    """The veth pair; ``threaded``: B's receive work in its own NAPI kernel
    thread (GRO on and TSO off at A, so plain skbs take that path too)."""
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
    if threaded:
        # veth feeds B's NAPI only with GRO-eligible skbs: not from a TSO sender
        sh("ip", "netns", "exec", NS_A, "ethtool", "-K", DEV_A, "tso", "off")
        # the flag can only be set while the veth has a NAPI instance (GRO on)
        sh("ip", "netns", "exec", NS_B, "ethtool", "-K", DEV_B, "gro", "on")
        sh("ip", "netns", "exec", NS_B, "sh", "-c", "echo 1 > /sys/class/net/%s/threaded" % DEV_B)


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


# -- workers (run inside the namespaces, pinned) ----------------------------------

def _tx_budget(args):
    """A batch per kick (XDP_MAX_TX_SKB_BUDGET) where the kernel has it."""
    from pyxsk.cli import probe
    if probe.tx_skb_budget().status == probe.OK:
        return min(args.batch, PLAIN_RING)
    return None


def worker_pyxsk_txonly(args):
    from pyxsk.xsk import Socket
    with Socket(DEV_A, 0, rx_size=0, tx_size=PLAIN_RING, num_frames=2 * PLAIN_RING,
                tx_budget=_tx_budget(args)) as sock:
        frame = benchmark.udp_frame(MAC_A, MAC_B, args.size)
        result = loops.txonly(sock, frame, args.seconds, args.batch, warmup=args.warmup)
    print("AVG tx_pps=%.0f" % result.pps, flush=True)


def _pyxsk_receiver(args, loop, coalesce=True):
    """``coalesce``: the set-up pyxsk recommends for throughput, SCHED_BATCH
    and rings that hold a scheduler slice of frames; without it, the default
    policy and C xskbench's ring sizes (fill ring twice the RX ring).  A
    forwarding receiver sends a batch per kick where the kernel allows it."""
    from pyxsk import XskSocket, scheduling
    rx_size = COALESCED_RING if coalesce else PLAIN_RING
    tx_budget = _tx_budget(args) if loop is loops.l2fwd and coalesce else None
    with XskSocket(DEV_B, 0, xdp_mode="drv", rx_size=rx_size, fill_size=2 * rx_size,
                   tx_size=PLAIN_RING, tx_budget=tx_budget) as xsk:
        with scheduling.coalesced_wakeups() if coalesce else contextlib.nullcontext():
            result = loop(xsk, args.seconds, args.batch, warmup=args.warmup)
    print("AVG rx_pps=%.0f" % result.pps, flush=True)


def _receivers(mode, loop):
    """The two pyxsk receiver workers of ``mode``."""
    return {"pyxsk-" + mode: lambda args: _pyxsk_receiver(args, loop),
            "pyxsk-plain-" + mode: lambda args: _pyxsk_receiver(args, loop, coalesce=False)}


def worker_afpacket_txonly(args):
    frame = benchmark.udp_frame(MAC_A, MAC_B, args.size)
    clock = loops.Clock("txonly", args.seconds, args.warmup)
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
        if not clock.add(n):
            break
        n = 0
    print("AVG tx_pps=%.0f" % clock.result().pps, flush=True)


def _afpacket_receiver(args, per_frame):
    """The standard library's best: recv_into one reusable buffer."""
    clock = loops.Clock("rx", args.seconds, args.warmup)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    s.bind((DEV_B, ETH_P_IP))
    s.settimeout(0.1)
    buf = bytearray(2048)
    recv_into = s.recv_into
    n = 0
    while True:
        try:
            for _ in range(256):
                size = recv_into(buf)
                per_frame(s, buf, size)
                n += 1
        except socket.timeout:
            pass
        if not clock.add(n):
            break
        n = 0
    print("AVG rx_pps=%.0f" % clock.result().pps, flush=True)


def worker_afpacket_rxdrop(args):
    _afpacket_receiver(args, lambda s, buf, size: None)


def worker_afpacket_rx_touch(args):
    total = [0]

    def touch(s, buf, size):
        total[0] += buf[12] << 8 | buf[13]
    _afpacket_receiver(args, touch)


def worker_afpacket_l2fwd(args):
    view = memoryview(bytearray(2048))

    def swap_and_send(s, buf, size):
        view[0:6], view[6:12], view[12:size] = buf[6:12], buf[0:6], buf[12:size]
        s.send(view[:size])
    _afpacket_receiver(args, swap_and_send)


WORKERS = {
    "pyxsk-txonly": worker_pyxsk_txonly, "afpacket-txonly": worker_afpacket_txonly,
    "afpacket-rxdrop": worker_afpacket_rxdrop, "afpacket-rx-touch": worker_afpacket_rx_touch,
    "afpacket-l2fwd": worker_afpacket_l2fwd,
    **_receivers("rxdrop", loops.rxdrop), **_receivers("rx-touch", loops.rx_touch),
    **_receivers("l2fwd", loops.l2fwd),
}
ETH_P_IP = 0x0800


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


def background(argv):
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc, seconds):
    proc.terminate()
    try:
        proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def xskbench_argv(xskbench, dev, mode_args, args, extra=()):
    return [xskbench, "-i", dev] + list(mode_args) + [
        "-Q", "-d", str(args.seconds), "-w", str(args.warmup), "-s", str(args.size)] + list(extra)


def worker_argv(args, name):
    return [args.python, os.path.abspath(__file__), "_worker", name, "--seconds", str(args.seconds),
            "--warmup", str(args.warmup), "--size", str(args.size), "--batch", str(args.batch)]


# mode -> (xskbench arguments, rate reported)
MODES = {
    "txonly": (["-m", "txonly", "-L", "none", "-D", MAC_B, "-A", MAC_A, "-I", IP_B, "-J", IP_A],
               "tx_pps"),
    "rxdrop": (["-m", "rxdrop", "-p"], "rx_pps"),
    "rx-touch": (["-m", "rxdrop", "-p", "-T"], "rx_pps"),
    "l2fwd": (["-m", "l2fwd", "-p"], "rx_pps"),
}
TARGETS = {   # (numerator, denominator, target ratio or None: shown, not judged)
    "txonly": [("pyxsk", "C xskbench", 0.9), ("pyxsk", "AF_PACKET", 1.5),
               ("pyxsk", "C batch", None)],
    "rxdrop": [("pyxsk", "C xskbench", 0.95), ("pyxsk", "AF_PACKET", 5.0),
               ("pyxsk plain", "C xskbench", None), ("pyxsk", "C batch", None)],
    "rx-touch": [("pyxsk", "C xskbench", 0.8), ("pyxsk", "AF_PACKET", 5.0),
                 ("pyxsk plain", "C xskbench", None), ("pyxsk", "C batch", None)],
    "l2fwd": [("pyxsk", "C xskbench", 0.8), ("pyxsk", "AF_PACKET", 1.0),
              ("pyxsk plain", "C xskbench", None), ("pyxsk", "C batch", None)],
}


def contenders(mode, args, xskbench):
    """(name, argv) of the contenders of ``mode``, each in its namespace and
    on its CPU (the receivers are described in the module docstring)."""
    mode_args, _ = MODES[mode]
    if mode == "txonly":
        ns, dev, cpu = NS_A, DEV_A, SENDER_CPU
    else:
        ns, dev, cpu = NS_B, DEV_B, RECEIVER_CPU
    out = [("C xskbench", in_ns(ns, cpu, xskbench_argv(xskbench, dev, mode_args, args))),
           ("pyxsk", in_ns(ns, cpu, worker_argv(args, "pyxsk-" + mode))),
           ("AF_PACKET", in_ns(ns, cpu, worker_argv(args, "afpacket-" + mode)))]
    budget = ["-B", str(min(args.batch, PLAIN_RING))]
    if mode == "txonly":
        out.append(("C batch", in_ns(ns, cpu, xskbench_argv(xskbench, dev, mode_args, args,
                                                            budget))))
        return out
    rings = ["-r", str(COALESCED_RING), "-n", str(4 * COALESCED_RING)]
    if mode == "l2fwd":
        rings += budget
    out += [("pyxsk plain", in_ns(ns, cpu, worker_argv(args, "pyxsk-plain-" + mode))),
            ("C batch", in_ns(ns, cpu, ["chrt", "--batch", "0"] + xskbench_argv(
                xskbench, dev, mode_args, args, rings)))]
    return out


def measure_once(mode, argv, args, xskbench):
    """One contender's rate, with the other side running: C rxdrop receiving
    for txonly, C txonly sending for the receivers."""
    key = MODES[mode][1]
    if mode == "txonly":
        other = in_ns(NS_B, RECEIVER_CPU, [xskbench, "-i", DEV_B, "-m", "rxdrop", "-p", "-Q",
                                           "-d", str(args.seconds + 5)])
    else:
        other = in_ns(NS_A, SENDER_CPU, [xskbench, "-i", DEV_A] + MODES["txonly"][0] + [
            "-Q", "-d", str(args.seconds + 5), "-s", str(args.size)])
    peer = background(other)
    try:
        time.sleep(1.0)
        contender = background(argv)
        if mode != "txonly":
            time.sleep(0.5)
            pin_napi_threads(RECEIVER_CPU)
        out, err = contender.communicate(timeout=args.seconds + 30)
        if contender.returncode:
            raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), contender.returncode, out, err))
        if peer.poll() is not None:
            raise RuntimeError("the other side (%s) stopped early:\n%s" % (
                " ".join(other), peer.communicate()[1]))
        return parse_rate(out, key)
    finally:
        stop(peer, 10)
        # the kernel frees a closed AF_XDP socket's queue from a workqueue:
        # binding it again at once fails with EBUSY for ~20 ms
        time.sleep(RELEASE_PAUSE)


def bench_mode(mode, args, xskbench):
    topology_up(threaded=mode != "txonly")
    try:
        rates = {}
        runs = contenders(mode, args, xskbench)
        for round_ in range(args.repeat):
            # every other round in reverse order: a drift of the VM's speed
            # during a round then favours no contender on the whole
            for name, argv in runs if round_ % 2 == 0 else runs[::-1]:
                rate = measure_once(mode, argv, args, xskbench)
                rates.setdefault(name, []).append(rate)
                print("%-8s round %d  %-12s %12.0f pps" % (mode, round_ + 1, name, rate), flush=True)
    finally:
        topology_down()
    return report(mode, rates, TARGETS[mode], args)


def report(mode, rates, ratios, args):
    """Medians of the rates, and each ratio judged on the median of its
    per-round ratios: the contenders of one round run back to back, so a
    round's own ratio is the least disturbed by the VM's drift."""
    med = {name: statistics.median(v) for name, v in rates.items()}
    print("\n%s (%d B frames), medians of %d runs:" % (mode, args.size, args.repeat))
    for name, value in med.items():
        print("  %-12s %12.0f pps" % (name, value))
    lines = []
    for a, b, target in ratios:
        per_round = [x / y for x, y in zip(rates[a], rates[b]) if y]
        r = statistics.median(per_round) if per_round else float("inf")
        lines.append((a, b, r, target))
        verdict = "" if target is None else "; target >= %.2f: %s" % (
            target, "met" if r >= target else "NOT met")
        print("  %s / %s = %.2f  (rounds: %s%s)" % (
            a, b, r, " ".join("%.2f" % x for x in per_round), verdict))
    print(flush=True)
    return med, lines


def markdown(results):
    out = ["| mode | pyxsk | C xskbench | AF_PACKET | pyxsk plain | C batch | pyxsk / C "
           "| pyxsk / AF_PACKET | plain / C | pyxsk / C batch |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mode, (med, lines) in results.items():
        ratios = {(a, b): r for a, b, r, _ in lines}
        cell = lambda d, k: "%.0f" % d[k] if k in d else "-"  # noqa: E731
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            mode, cell(med, "pyxsk"), cell(med, "C xskbench"), cell(med, "AF_PACKET"),
            cell(med, "pyxsk plain"), cell(med, "C batch"),
            *("%.2f" % ratios[k] if k in ratios else "-" for k in (
                ("pyxsk", "C xskbench"), ("pyxsk", "AF_PACKET"),
                ("pyxsk plain", "C xskbench"), ("pyxsk", "C batch")))))
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    runs = [sub.add_parser(m, help="benchmark %s" % m) for m in list(MODES) + ["all"]]
    w = sub.add_parser("_worker", help=argparse.SUPPRESS)
    w.add_argument("worker", choices=sorted(WORKERS))
    for q in runs + [w]:
        q.add_argument("--seconds", type=float, default=5.0, help="per run, warm-up included")
        q.add_argument("--warmup", type=float, default=1.0)
        q.add_argument("--size", type=int, default=64, help="frame size for txonly (64)")
        q.add_argument("--batch", type=int, default=1024,
                       help="descriptors pyxsk moves per call (default 256)")
    for q in runs:
        q.add_argument("--repeat", type=int, default=3)
        q.add_argument("--python", default=sys.executable,
                       help="interpreter for the Python contenders (default: this one)")
    args = p.parse_args(argv)
    if args.mode == "_worker":
        return WORKERS[args.worker](args)
    if os.geteuid() != 0:
        sys.exit("benchmarks need root (namespaces, veth, AF_XDP)")
    for tool in ("ip", "taskset", "ethtool", "chrt"):
        if shutil.which(tool) is None:
            sys.exit("needs %s" % tool)
    xskbench = build_xskbench()
    modes = list(MODES) if args.mode == "all" else [args.mode]
    results = {m: bench_mode(m, args, xskbench) for m in modes}
    print("python: %s" % subprocess.run([args.python, "--version"], capture_output=True,
                                        text=True).stdout.strip())
    print(markdown(results))


if __name__ == "__main__":
    main()
