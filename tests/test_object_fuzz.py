"""The ELF and BTF parsers on broken input: seeded truncations and byte
corruptions of every object of the C corpus, fed to the parse-only path
(bpf.ObjectFile, what bpf.open_object builds from a file's bytes).  The only
exception allowed out is bpf.ObjectError; IndexError, struct.error,
UnicodeDecodeError, KeyError, RecursionError... are defects.  Each test
runs a few thousand cases and is bounded (an alarm stops a hang).

The mutations aim at the structure: an independent reader (below, from
the ELF64 layout) finds the section header table, each section and the
headers of .BTF and .BTF.ext, and the fuzzer cuts at and overwrites their
fields as well as random bytes.  A failure names the object, the seed and
the mutation, so one case replays alone.
"""

import contextlib
import os
import random
import resource
import signal
import struct
import time
import traceback

import pytest

from bpfobj import build, sources
from pyxsk import bpf
from pyxsk.bpf import btf as bpf_btf

BUDGET = 20.0            # seconds a test may take
ALARM = 60               # seconds after which a hang is declared
MEMORY = 1 << 30         # bytes of address space the parser may add
CASES = 500              # random corruptions per object and test
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")           # Elf64_Ehdr
SHDR = struct.Struct("<IIQQQQIIQQ")                 # Elf64_Shdr
BTF_HDR = struct.Struct("<HBBIIIII")                # struct btf_header
BTF_EXT_HDR = struct.Struct("<HBBIIIII")            # struct btf_ext_header (+ CO-RE fields)
INTERESTING = (0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
               0xffffffffffffffff, 1 << 40)


class Hang(Exception):
    pass


@contextlib.contextmanager
def memory_limit(extra=MEMORY):
    """At most ``extra`` more bytes of address space: a parser that
    believes a corrupted size gets a quick MemoryError (a defect the test
    reports) instead of gigabytes."""
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    old = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


@contextlib.contextmanager
def alarm(seconds):
    def ring(signum, frame):
        raise Hang("no answer within %d s" % seconds)
    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def sections(data):
    """[(name, header offset, data offset, size)] of an intact ELF64 object."""
    ehdr = EHDR.unpack_from(data, 0)
    shoff, shentsize, shnum, shstrndx = ehdr[6], ehdr[11], ehdr[12], ehdr[13]
    headers = [SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx]
    names = data[strtab[4]:strtab[4] + strtab[5]]
    out = []
    for i, h in enumerate(headers):
        name = names[h[0]:names.index(b"\0", h[0])].decode()
        out.append((name, shoff + i * shentsize, h[4], h[5]))
    return out


def field_offsets(data):
    """Offsets and sizes of the fields worth overwriting: the ELF header, each
    section header's fields, the .BTF and .BTF.ext headers, each symbol's and
    relocation's fields, the first bytes of every BTF type record."""
    fields = [(o, s) for o, s in ((16, 2), (18, 2), (20, 4), (24, 8), (32, 8), (40, 8), (48, 4),
                                  (52, 2), (54, 2), (56, 2), (58, 2), (60, 2), (62, 2))]
    shdr_fields = ((0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 8),
                   (56, 8))
    for name, hdr, off, size in sections(data):
        fields += [(hdr + o, s) for o, s in shdr_fields]
        if name in (".BTF", ".BTF.ext"):
            fields += [(off + o, s) for o, s in ((0, 2), (2, 1), (3, 1), (4, 4), (8, 4), (12, 4),
                                                 (16, 4), (20, 4), (24, 4), (28, 4))]
        if name == ".BTF":
            hdr_len, type_off, type_len = struct.unpack_from("<III", data, off + 4)
            start = off + hdr_len + type_off
            fields += [(start + i, 4) for i in range(0, min(type_len, 4096), 4)]
        if name == ".BTF.ext":
            fields += [(off + i, 4) for i in range(32, min(size, 1024), 4)]
        if name == ".symtab":
            fields += [(off + i + o, s) for i in range(0, size, 24)
                       for o, s in ((0, 4), (4, 1), (6, 2), (8, 8), (16, 8))]
        if name.startswith(".rel"):
            fields += [(off + i + o, s) for i in range(0, size, 16) for o, s in ((0, 8), (8, 4), (12, 4))]
    return [(o, s) for o, s in fields if o + s <= len(data)]


def cut_points(data):
    """Lengths to truncate at: all of the ELF header, and around each
    section's start and end and each section header."""
    points = set(range(0, EHDR.size + 1))
    for _name, hdr, off, size in sections(data):
        points.update((hdr, hdr + 1, hdr + SHDR.size - 1, off, off + 1, off + size - 1, off + size // 2))
    return sorted(p for p in points if 0 <= p < len(data))


def mutations(data, rng):
    """Yields (description, mutated bytes)."""
    for n in cut_points(data):
        yield "truncated to %d bytes" % n, data[:n]
    fields = field_offsets(data)
    for _ in range(CASES):
        buf = bytearray(data)
        kind = rng.random()
        if kind < 0.5:
            off, size = rng.choice(fields)
            value = rng.choice(INTERESTING + (rng.getrandbits(8 * size), len(data),
                                              len(data) - 1, len(data) + 1)) & ((1 << 8 * size) - 1)
            buf[off:off + size] = value.to_bytes(size, "little")
            what = "field at %d (%d bytes) = %#x" % (off, size, value)
        elif kind < 0.8:
            spots = [rng.randrange(len(buf)) for _ in range(rng.randint(1, 8))]
            for spot in spots:
                buf[spot] = rng.randrange(256)
            what = "random bytes at %s" % spots
        else:
            off, size = rng.choice(fields)
            n = rng.randrange(len(buf))
            buf[off:off + size] = min(n, (1 << 8 * size) - 1).to_bytes(size, "little")
            del buf[n:]
            what = "field at %d = %d, then truncated there" % (off, n)
        yield what, bytes(buf)


# objects whose section names need a program type (as for loading them)
PROG_TYPES = {"tc_classifier": "tc", "cli_custom": "xdp"}   # section names libbpf does not know


def parse(data, name):
    return bpf.ObjectFile(data, name + ".o", PROG_TYPES.get(name))


def check(name, cases, parser):
    """Runs every case; returns the failures as text (at most 20)."""
    failures = []
    start = time.monotonic()
    count = 0
    with alarm(ALARM), memory_limit():
        for what, data in cases:
            count += 1
            try:
                parser(data, name)
            except bpf.ObjectError:
                continue
            except Exception as e:     # anything else is the defect we look for
                where = traceback.extract_tb(e.__traceback__)[-1]
                failures.append("%s.o, %s: %s: %s (at %s:%d)" % (
                    name, what, type(e).__name__, e, os.path.basename(where.filename), where.lineno))
                if len(failures) >= 20:
                    break
    elapsed = time.monotonic() - start
    return failures, count, elapsed


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    return {name: open(build(name, tmp_path_factory), "rb").read() for name in sources()}


def test_the_intact_objects_parse(objects):
    for name, data in objects.items():
        spec = parse(data, name)
        assert spec.programs, name


@pytest.mark.parametrize("seed", [1, 2])
def test_truncated_and_corrupted_objects_raise_object_error_only(objects, seed):
    failures, total = [], 0
    start = time.monotonic()
    for name, data in sorted(objects.items()):
        rng = random.Random("%s/%d" % (name, seed))
        found, count, _ = check(name, mutations(data, rng), parse)
        failures += found
        total += count
    elapsed = time.monotonic() - start
    assert not failures, "%d of %d cases raised something else than ObjectError:\n%s" % (
        len(failures), total, "\n".join(failures[:20]))
    assert total >= 2000
    assert elapsed < BUDGET, "%d cases took %.1f s" % (total, elapsed)


def btf_mutations(data, rng, count=1500):
    """Corruptions of a .BTF blob alone: header fields, type records, strings."""
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<IIIII", data, 4)
    for n in range(0, min(len(data), hdr_len + 64)):
        yield "BTF truncated to %d" % n, data[:n]
    for _ in range(count):
        buf = bytearray(data)
        if rng.random() < 0.4:
            off = rng.choice((4, 8, 12, 16, 20)) if rng.random() < 0.5 else \
                hdr_len + type_off + 4 * rng.randrange(max(1, type_len // 4))
            value = rng.choice(INTERESTING + (rng.getrandbits(32),)) & 0xffffffff
            buf[off:off + 4] = value.to_bytes(4, "little")
            what = "BTF u32 at %d = %#x" % (off, value)
        else:
            spots = [rng.randrange(len(buf)) for _ in range(rng.randint(1, 6))]
            for spot in spots:
                buf[spot] = rng.randrange(256)
            what = "BTF random bytes at %s" % spots
        yield what, bytes(buf)


def section_bytes(data, wanted):
    for name, _hdr, off, size in sections(data):
        if name == wanted:
            return data[off:off + size]
    raise LookupError(wanted)


def test_corrupted_btf_raises_object_error_only(objects):
    """Btf.parse and BtfExt.parse on their own, so every case reaches them."""
    failures, total = [], 0
    start = time.monotonic()
    for name in ("maps_btf", "subprogs", "global_data", "large"):
        data = objects[name]
        rng = random.Random("btf/" + name)
        raw_btf, raw_ext = section_bytes(data, ".BTF"), section_bytes(data, ".BTF.ext")
        found, count, _ = check(name, btf_mutations(raw_btf, rng),
                                lambda blob, _n: bpf_btf.Btf.parse(blob))
        failures += found
        total += count
        good = bpf_btf.Btf.parse(raw_btf)
        found, count, _ = check(name, btf_mutations(raw_ext, rng, 500),
                                lambda blob, _n: bpf_btf.BtfExt.parse(blob, good))
        failures += found
        total += count
    elapsed = time.monotonic() - start
    assert not failures, "%d of %d cases raised something else than ObjectError:\n%s" % (
        len(failures), total, "\n".join(failures[:20]))
    assert elapsed < BUDGET, "%d cases took %.1f s" % (total, elapsed)


def test_open_object_reads_broken_files_the_same_way(objects, tmp_path):
    """bpf.open_object on files: empty, cut in the section headers, not ELF."""
    data = objects["maps_btf"]
    cases = {"empty.o": b"", "cut.o": data[:len(data) - 10], "text.o": b"just some text\n" * 10,
             "elf32.o": b"\x7fELF\x01\x01\x01" + bytes(57)}
    for file_name, content in cases.items():
        path = tmp_path / file_name
        path.write_bytes(content)
        with pytest.raises(bpf.ObjectError):
            bpf.open_object(str(path))


def test_the_fuzzer_reaches_the_parsers(objects):
    """Not every case may be refused at the ELF header: the mutations must
    get past it, into sections, BTF and relocations, and some must parse."""
    data = objects["maps_btf"]
    rng = random.Random("reach")
    outcomes = {"parsed": 0, "refused": 0}
    messages = set()
    for _what, mutated in mutations(data, rng):
        try:
            parse(mutated, "maps_btf")
        except bpf.ObjectError as e:
            outcomes["refused"] += 1
            messages.add(str(e).split(":")[1].strip() if ":" in str(e) else str(e))
        else:
            outcomes["parsed"] += 1
    assert outcomes["parsed"] >= 50 and outcomes["refused"] >= 200, outcomes
    assert len(messages) >= 10, sorted(messages)
    assert any(".BTF" in m for m in messages), sorted(messages)
