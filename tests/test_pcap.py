"""pcap files: round trips, both byte orders and resolutions, bad input,
and tcpdump as the independent reader."""

import io
import shutil
import struct
import subprocess

import pytest

from pyxsk.capture import pcap
from pyxsk.errors import PcapError

FRAMES = [bytes([i]) * (60 + 37 * i) for i in range(20)]


@pytest.mark.parametrize("nanosecond", [False, True])
def test_round_trip(tmp_path, nanosecond):
    path = tmp_path / "x.pcap"
    with pcap.Writer(path, nanosecond=nanosecond) as w:
        for i, frame in enumerate(FRAMES):
            w.write(frame, timestamp=1700000000 + i * 0.125)
        w.write(memoryview(b"\xaa" * 64))
    packets = list(pcap.read(path))
    assert [p.data for p in packets] == FRAMES + [b"\xaa" * 64]
    assert [p.timestamp for p in packets[:3]] == [1700000000.0, 1700000000.125, 1700000000.25]
    assert pcap.info(path) == (pcap.LINKTYPE_ETHERNET, pcap.DEFAULT_SNAPLEN, nanosecond)


def test_snaplen_cuts_and_keeps_the_original_length():
    buf = io.BytesIO()
    w = pcap.Writer(buf, snaplen=100)
    w.write(b"\x01" * 300, timestamp=5.5)
    w.close()
    (packet,) = pcap.read(io.BytesIO(buf.getvalue()))
    assert packet == pcap.Packet(5.5, b"\x01" * 100, 300)


def test_a_closed_writer_refuses_to_write_or_flush():
    w = pcap.Writer(io.BytesIO())
    w.close()
    w.close()                                   # idempotent
    with pytest.raises(ValueError, match="closed"):
        w.write(b"\x01" * 60)
    with pytest.raises(ValueError, match="closed"):
        w.flush()


def test_big_endian_files_read_too():
    header = struct.pack(">IHHiIII", pcap.MAGIC_USEC, 2, 4, 0, 0, 65535, 1)
    record = struct.pack(">IIII", 10, 500000, 4, 4) + b"abcd"
    assert list(pcap.read(io.BytesIO(header + record))) == [pcap.Packet(10.5, b"abcd", 4)]


@pytest.mark.parametrize("raw,message", [
    (b"", "not a pcap file"),
    (b"\x00" * 24, "not a pcap file"),
    (struct.pack("<I", pcap.MAGIC_PCAPNG) + b"\0" * 20, "pcapng"),
    (struct.pack("<IHHiIII", pcap.MAGIC_USEC, 2, 3, 0, 0, 65535, 1), "version 2.3"),
    (struct.pack("<IHHiIII", pcap.MAGIC_USEC, 2, 4, 0, 0, 65535, 1) + b"\0" * 7, "truncated header"),
    (struct.pack("<IHHiIII", pcap.MAGIC_USEC, 2, 4, 0, 0, 65535, 1)
     + struct.pack("<IIII", 0, 0, 10, 10) + b"12345", "truncated data"),
    (struct.pack("<IHHiIII", pcap.MAGIC_USEC, 2, 4, 0, 0, 65535, 1)
     + struct.pack("<IIII", 0, 2000000, 1, 1) + b"1", "corrupt header"),
])
def test_bad_files_raise_pcap_error(raw, message):
    with pytest.raises(PcapError, match=message):
        list(pcap.read(io.BytesIO(raw)))


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
@pytest.mark.parametrize("nanosecond", [False, True])
def test_tcpdump_reads_what_we_write(tmp_path, nanosecond):
    path = tmp_path / "x.pcap"
    frame = (bytes.fromhex("020000000002" "020000000001" "0806")           # Ethernet: ARP
             + bytes.fromhex("0001" "0800" "06" "04" "0001")                # request
             + bytes.fromhex("020000000001" "0a000001" "000000000000" "0a000002")
             + bytes(18))
    with pcap.Writer(path, nanosecond=nanosecond) as w:
        for i in range(3):
            w.write(frame, timestamp=1700000000 + i)
    out = subprocess.run(["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all("ARP, Request who-has 10.0.0.2 tell 10.0.0.1" in line for line in lines)
