"""pcapng written by pyxsk and read by tshark and capinfos; pcapng written by
editcap, mergecap and text2pcap during the run and read by pyxsk; broken
files give PcapError only."""

import io
import random
import shutil
import subprocess

import pytest

from pyxsk.capture import pcap, pcapng
from pyxsk.errors import PcapError

TOOLS = ("tshark", "capinfos", "editcap", "mergecap", "text2pcap")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason="tshark and wireshark-common (editcap, mergecap...) are needed")

T0 = 1700000000123456789


def frames(count):
    return [bytes([i]) * 6 + b"\x02" * 6 + b"\x08\x00" + bytes(range(i % 50 + 46)) for i in range(count)]


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def test_tshark_reads_what_pyxsk_writes(tmp_path):
    path = str(tmp_path / "out.pcapng")
    sent = frames(5)
    with pcapng.Writer(path, interfaces=["veth-a", "veth-b"], snaplen=80) as w:
        for i, frame in enumerate(sent):
            w.write(frame, timestamp_ns=T0 + i * 1001, interface=i % 2, flags=pcapng.EPB_INBOUND,
                    comment="queue %d action XDP_PASS" % i, queue=i)
    out = run("tshark", "-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.time_epoch",
              "-e", "frame.comment", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.p2p_dir")
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows == [["veth-%s" % "ab"[i % 2], "1700000000.%09d" % (123456789 + i * 1001),
                     "queue %d action XDP_PASS" % i, str(len(f)), str(min(80, len(f))), "1"]
                    for i, f in enumerate(sent)]
    info = run("capinfos", "-M", path)
    assert "Number of packets:   5" in info and "nanoseconds" in info and "Ethernet" in info


def test_round_trip_keeps_every_field(tmp_path):
    buf = io.BytesIO()
    w = pcapng.Writer(buf, interfaces=["x"])
    w.write(b"\x01" * 60, timestamp_ns=T0, orig_len=1500, flags=pcapng.EPB_OUTBOUND, comment="c", queue=3)
    w.write(b"\x02" * 61, timestamp_ns=T0 + 1)
    buf.seek(0)
    got = list(pcapng.read(buf))
    assert got == [pcapng.Record(0, T0, b"\x01" * 60, 1500, pcapng.EPB_OUTBOUND, "c", 3),
                   pcapng.Record(0, T0 + 1, b"\x02" * 61, 61)]
    with pytest.raises(ValueError, match="interface 1"):
        w.write(b"\x00" * 60, interface=1)


def write_pcap(path, sent, nanosecond):
    with pcap.Writer(path, nanosecond=nanosecond) as w:
        for i, frame in enumerate(sent):
            w.write(frame, timestamp=1700000000 + i * 0.25)


@pytest.mark.parametrize("nanosecond", [False, True])
def test_pyxsk_reads_what_editcap_converts(tmp_path, nanosecond):
    """editcap keeps the pcap's resolution: if_tsresol 6 (the default, no
    option) from a microsecond pcap, 9 from a nanosecond one."""
    src, out = str(tmp_path / "in.pcap"), str(tmp_path / "out.pcapng")
    sent = frames(7)
    write_pcap(src, sent, nanosecond)
    run("editcap", "-F", "pcapng", src, out)
    got = list(pcapng.read(out))
    assert [r.data for r in got] == sent
    assert [r.timestamp_ns for r in got] == [1700000000 * 10 ** 9 + i * 250_000_000 for i in range(7)]
    assert [i.units_per_second for i in pcapng.interfaces(out)] == [10 ** (9 if nanosecond else 6)]


def test_pyxsk_reads_several_interfaces_from_mergecap(tmp_path):
    a, b, out = (str(tmp_path / n) for n in ("a.pcapng", "b.pcapng", "merged.pcapng"))
    with pcapng.Writer(a, interfaces=["one"]) as w:
        w.write(b"\xaa" * 60, timestamp_ns=T0)
        w.write(b"\xaa" * 61, timestamp_ns=T0 + 20)
    with pcapng.Writer(b, interfaces=["two"]) as w:
        w.write(b"\xbb" * 62, timestamp_ns=T0 + 10)
    run("mergecap", "-F", "pcapng", "-w", out, a, b)
    got = list(pcapng.read(out))
    names = [i.name for i in pcapng.interfaces(out)]
    assert [(names[r.interface], r.data[:1], r.timestamp_ns) for r in got] == [
        ("one", b"\xaa", T0), ("two", b"\xbb", T0 + 10), ("one", b"\xaa", T0 + 20)]


def test_a_link_type_other_than_ethernet_is_refused(tmp_path):
    hexdump, out = tmp_path / "in.txt", str(tmp_path / "raw.pcapng")
    hexdump.write_text("0000 45 00 00 1c 00 01 00 00 40 11 00 00 0a 00 00 01 0a 00 00 02 00 35 00 35 00 08 00 00\n")
    run("text2pcap", "-n", "-l", "101", str(hexdump), out)        # LINKTYPE_RAW
    with pytest.raises(PcapError, match="link type 101, not Ethernet"):
        list(pcapng.read(out))


def test_broken_files_raise_pcap_error_only(tmp_path):
    buf = io.BytesIO()
    with pcapng.Writer(buf, interfaces=["a", "b"]) as w:
        for i, frame in enumerate(frames(6)):
            w.write(frame, timestamp_ns=T0 + i, interface=i % 2, comment="c%d" % i, queue=i)
        good = buf.getvalue()
    rng = random.Random(11)
    for i in range(3000):
        data = bytearray(good)
        if i % 2:
            data = data[:rng.randrange(len(data))]
        else:
            for _ in range(rng.randrange(1, 5)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            list(pcapng.read(io.BytesIO(bytes(data))))
        except PcapError:
            pass
    with pytest.raises(PcapError, match="does not start with a section header"):
        list(pcapng.read(io.BytesIO(good[28 * 4:])))
