"""Every map kind an XDP program uses, against the running kernel: each
created, filled, read, emptied and iterated from Python; refusals with their
causes; adopted through an fd, a bpffs pin and an id as the class of its
kind; and what programs see, run with BPF_PROG_TEST_RUN (redirects through
DEVMAP and CPUMAP, longest-prefix lookups, tail calls, maps of maps)."""

import ctypes
import errno
import ipaddress
import os
import re
import struct
import subprocess
import tempfile

import pytest

import frames as F
from pyxsk import _libc, bpf
from pyxsk.bpf import maps as bpf_maps
from pyxsk.bpf import syscall as bpf_syscall
from pyxsk.bpf.asm import (ALU64, JMP, LD, LDX, R0, R1, R2, R3, R4, R5, R10, ST, STX, XDP_MD_DATA,
                           XDP_MD_DATA_END, Program, label)
from pyxsk.errors import ConfigError, SyscallError
from pyxsk.net import netns
from pyxsk.uapi import bpf as k
from pyxsk.uapi import if_xdp

pytestmark = pytest.mark.root

PASS, DROP, TX, REDIRECT = (bpf.XdpAction.PASS, bpf.XdpAction.DROP, bpf.XdpAction.TX,
                            bpf.XdpAction.REDIRECT)
FRAME = F.udp4()
IPV4_DST = 14 + 16           # offset of the IPv4 destination in an untagged frame


def net(text):
    return ipaddress.ip_network(text)


def returning(action, attach_type=None, name=None):
    """A loaded XDP program that returns ``action``."""
    return bpf.load([ALU64.MOV.imm(R0, action), JMP.EXIT()], name=name,
                    expected_attach_type=attach_type)


def redirecting(target, key):
    """bpf_redirect_map(target, key, XDP_PASS): XDP_REDIRECT for a filled slot."""
    return bpf.load([LD.map_fd(R1, target), ALU64.MOV.imm(R2, key), ALU64.MOV.imm(R3, k.XDP_PASS),
                     JMP.CALL("redirect_map"), JMP.EXIT()])


@pytest.fixture
def bpffs():
    """A bpffs of our own, mounted on a fresh directory and unmounted after."""
    path = tempfile.mkdtemp(prefix="pyxsk-bpffs-")
    try:
        _libc.mount("bpf", path, "bpf", 0, call="mount(bpf, %s)" % path)
        try:
            yield path
        finally:
            _libc.umount2(path, _libc.MNT_DETACH, call="umount2(%s)" % path)
    finally:
        os.rmdir(path)


@pytest.fixture
def in_veth_netns(veth_pair):
    """The thread inside end A's namespace (DEVMAP resolves ifindexes there): A."""
    with netns.entered(veth_pair.a.netns):
        yield veth_pair.a


# -- hashes ---------------------------------------------------------------------------------

def test_percpu_hash_holds_one_value_per_cpu_per_key():
    with bpf.PerCpuHashMap(key_size=4, value_size=8, max_entries=2, name="pyxsk_pch") as m:
        assert m.cpus == bpf.possible_cpus()
        values = list(range(10, 10 + m.cpus))
        m[7] = values
        m[8] = 3
        assert m[7] == values and m[8] == [3] * m.cpus and m.sum(7) == sum(values)
        assert sorted(m) == [7, 8] and len(m) == 2
        with pytest.raises(SyscallError, match=r"the map is full \(max_entries 2\)") as e:
            m[9] = 1
        assert e.value.errno == errno.E2BIG
        with pytest.raises(ValueError, match="per-CPU values"):
            m[7] = [1] * (m.cpus + 1)
        del m[7]
        assert 7 not in m and list(m) == [8]
        with pytest.raises(KeyError):
            del m[7]
        assert m.info().type == k.BPF_MAP_TYPE_PERCPU_HASH


def test_lru_hash_evicts_instead_of_refusing():
    with bpf.LruHashMap(key_size=4, value_size=4, max_entries=8) as m:
        for key in range(100):
            m[key] = key * 2
        assert 0 < len(m) <= 8
        assert m[99] == 198                   # the newest key stayed
        assert all(m[key] == key * 2 for key in m)
        assert 0 not in m                     # the oldest went
        assert isinstance(m, bpf.HashMap) and m.info().type == k.BPF_MAP_TYPE_LRU_HASH
    with bpf.HashMap(key_size=4, value_size=4, max_entries=8) as plain:
        for key in range(8):
            plain[key] = key
        with pytest.raises(SyscallError, match="the map is full"):
            plain[8] = 8


def test_lru_percpu_hash():
    with bpf.LruPerCpuHashMap(key_size=8, value_size=4, max_entries=4) as m:
        for key in range(50):
            m[key] = key
        assert 0 < len(m) <= 4 and m[49] == [49] * m.cpus
        assert isinstance(m, bpf.PerCpuHashMap)
        assert m.info().type == k.BPF_MAP_TYPE_LRU_PERCPU_HASH


# -- LPM tries ------------------------------------------------------------------------------

def test_lpm_trie_gives_the_longest_prefix():
    with bpf.LpmTrieMap(data_size=4, value_size=4, max_entries=8, name="pyxsk_lpm") as trie:
        assert trie.flags & k.BPF_F_NO_PREALLOC and trie.key_size == 8 and trie.data_size == 4
        trie[net("10.0.0.0/8")] = 1
        trie[(16, bytes([10, 1, 0, 0]))] = 2
        trie[bpf.LpmKey(0, bytes(4))] = 9                       # the default route
        assert trie.lookup(ipaddress.ip_address("10.1.2.3")) == 2
        assert trie.lookup(ipaddress.ip_address("10.2.2.3")) == 1
        assert trie.lookup(ipaddress.ip_address("11.0.0.1")) == 9
        assert trie[(24, bytes([10, 1, 7, 0]))] == 2            # a longer prefix finds /16
        assert sorted(trie.items()) == [(bpf.LpmKey(0, bytes(4)), 9),
                                        (bpf.LpmKey(8, bytes([10, 0, 0, 0])), 1),
                                        (bpf.LpmKey(16, bytes([10, 1, 0, 0])), 2)]
        assert sorted(key.network for key in trie) == [net("0.0.0.0/0"), net("10.0.0.0/8"),
                                                       net("10.1.0.0/16")]
        del trie[net("10.1.0.0/16")]
        assert trie.lookup(ipaddress.ip_address("10.1.2.3")) == 1
        with pytest.raises(KeyError):
            del trie[net("10.1.0.0/16")]
        del trie[(0, bytes(4))]
        assert trie.get(ipaddress.ip_address("11.0.0.1")) is None


def test_lpm_trie_of_ipv6_and_of_plain_bytes():
    with bpf.LpmTrieMap(16, 8, 4) as trie:
        trie[net("2001:db8::/32")] = 1 << 40
        trie[net("2001:db8:1::/48")] = 2
        assert trie[ipaddress.ip_address("2001:db8:1::5")] == 2
        assert trie[ipaddress.ip_address("2001:db8:2::5")] == 1 << 40
        with pytest.raises(ValueError, match="16 data bytes"):
            trie[net("10.0.0.0/8")] = 1
    with bpf.LpmTrieMap(3, 4, 4) as trie:                       # 24-bit keys, not addresses
        trie[(12, b"\xab\xc0\x00")] = 5
        assert trie[(24, b"\xab\xcd\xef")] == 5 and trie.lookup((24, b"\xab\xdd\xef")) is None
        key = trie.next_key()
        assert key == (12, b"\xab\xc0\x00")
        with pytest.raises(ValueError, match="not an IP network"):
            key.network


def test_lpm_trie_refuses_bad_keys_before_the_kernel_and_says_when_full():
    with bpf.LpmTrieMap(4, 4, 2) as trie:
        for bad, error in (((33, bytes(4)), ValueError), ((-1, bytes(4)), ValueError),
                           ((8, bytes(3)), ValueError), ("10.0.0.0/8", TypeError),
                           ((True, bytes(4)), TypeError), (8, TypeError)):
            with pytest.raises(error):
                trie[bad] = 1
        trie[net("10.0.0.0/8")] = 1
        trie[net("10.0.0.0/16")] = 1
        with pytest.raises(SyscallError, match=r"the trie is full \(max_entries 2\)") as e:
            trie[net("10.0.0.0/24")] = 1
        assert e.value.errno == errno.ENOSPC
    with pytest.raises(SyscallError, match="BPF_F_NO_PREALLOC") as e:
        bpf.create_map(k.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 2)        # the kernel's own refusal
    assert e.value.errno == errno.EINVAL


def lpm_program(trie):
    """Look the frame's IPv4 destination up in ``trie``; return the value
    found as the action, XDP_PASS if none covers it."""
    return bpf.load(Program([
        LDX.W(R2, R1, XDP_MD_DATA),
        LDX.W(R3, R1, XDP_MD_DATA_END),
        ALU64.MOV.reg(R4, R2),
        ALU64.ADD.imm(R4, IPV4_DST + 4),
        JMP.JGT.reg(R4, R3, "pass"),
        LDX.W(R5, R2, IPV4_DST),
        STX.W(R10, -4, R5),                       # key.data: the address as it is in the frame
        ST.W(R10, -8, 32),                        # key.prefixlen
        LD.map_fd(R1, trie),
        ALU64.MOV.reg(R2, R10),
        ALU64.ADD.imm(R2, -8),
        JMP.CALL("map_lookup_elem"),
        JMP.JEQ.imm(R0, 0, "pass"),
        LDX.W(R0, R0, 0),
        JMP.EXIT(),
        label("pass"),
        ALU64.MOV.imm(R0, k.XDP_PASS),
        JMP.EXIT(),
    ]))


def test_a_program_looks_up_the_longest_prefix():
    with bpf.LpmTrieMap(4, 4, 8) as trie, lpm_program(trie) as prog:
        trie[net("10.0.0.0/8")] = k.XDP_DROP
        trie[net("10.1.0.0/16")] = k.XDP_TX
        trie[net("10.1.2.0/24")] = k.XDP_ABORTED
        cases = {"10.1.2.3": bpf.XdpAction.ABORTED, "10.1.3.3": TX, "10.200.0.1": DROP,
                 "11.0.0.1": PASS}
        for dst, action in cases.items():
            assert prog.test_run(F.udp4(dst=dst)).action == action, dst
        del trie[net("10.1.2.0/24")]
        assert prog.test_run(F.udp4(dst="10.1.2.3")).action == TX


# -- DEVMAP and DEVMAP_HASH -------------------------------------------------------------------

def test_devmap_holds_interfaces(in_veth_netns):
    end = in_veth_netns
    with bpf.DevMap(max_entries=4, name="pyxsk_dev") as devmap:
        assert dict(devmap) == {} and len(devmap) == 0          # empty slots are not items
        devmap[2] = end.index
        assert devmap[2] == end.index and dict(devmap) == {2: end.index} and 1 not in devmap
        with pytest.raises(SyscallError, match="no interface has this ifindex") as e:
            devmap[0] = 0x7fffffff
        assert e.value.errno == errno.EINVAL
        with pytest.raises(SyscallError, match="beyond max_entries 4") as e:
            devmap[4] = end.index
        with pytest.raises(ValueError, match="needs value_size 8"):
            devmap[0] = (end.index, 3)
        del devmap[2]
        assert dict(devmap) == {}
        with pytest.raises(KeyError):
            del devmap[2]


def test_devmap_slot_with_a_program_reads_back_its_id(in_veth_netns):
    end = in_veth_netns
    with bpf.DevMap(4, value_size=8) as devmap, \
            returning(k.XDP_PASS, k.BPF_XDP_DEVMAP) as egress, returning(k.XDP_PASS) as plain:
        devmap[0] = end.index
        devmap[1] = (end.index, egress)
        devmap[3] = (end.index, None)
        assert devmap[0] == bpf.DevMapValue(end.index, 0) == devmap[3]
        assert devmap[1] == bpf.DevMapValue(end.index, egress.id)
        devmap[2] = devmap[0]                                   # no program: fine
        with pytest.raises(TypeError, match="program's id"):
            devmap[2] = devmap[1]                               # an id where an fd belongs
        with pytest.raises(SyscallError, match="BPF_XDP_DEVMAP") as e:
            devmap[2] = (end.index, plain)                      # loaded without the attach type
        assert e.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            devmap[2] = "veth"


def test_devmap_hash_keys_are_any_u32(in_veth_netns):
    end = in_veth_netns
    with bpf.DevMapHash(max_entries=2) as devmap:
        devmap[end.index] = end.index
        devmap[1 << 31] = end.index
        assert sorted(devmap) == sorted([end.index, 1 << 31])
        with pytest.raises(SyscallError, match=r"the map is full \(max_entries 2\)"):
            devmap[7] = end.index
        del devmap[1 << 31]
        with pytest.raises(KeyError):
            del devmap[1 << 31]
        assert isinstance(devmap, bpf.DevMap)


def test_redirect_through_a_devmap(in_veth_netns):
    end = in_veth_netns
    for make in (lambda: bpf.DevMap(4), lambda: bpf.DevMapHash(4)):
        with make() as devmap, redirecting(devmap, 3) as prog:
            assert prog.test_run(FRAME).action == PASS          # empty slot: the fallback
            devmap[3] = end.index
            assert prog.test_run(FRAME).action == REDIRECT
            del devmap[3]
            assert prog.test_run(FRAME).action == PASS


# -- CPUMAP ----------------------------------------------------------------------------------

def test_cpumap_holds_queues_towards_cpus():
    with bpf.CpuMap() as cpumap:
        assert cpumap.max_entries == bpf.possible_cpus() and dict(cpumap) == {}
        cpumap[0] = 64
        assert dict(cpumap) == {0: 64}
        with pytest.raises(SyscallError, match="qsize is above 16384") as e:
            cpumap[0] = 16385
        assert e.value.errno == errno.EOVERFLOW
        cpumap[0] = 0                                           # qsize 0 empties the slot
        assert 0 not in cpumap
        with pytest.raises(KeyError):
            del cpumap[0]
    cpus = bpf.possible_cpus()
    with bpf.CpuMap(cpus + 1) as cpumap:
        with pytest.raises(SyscallError, match="no such CPU") as e:
            cpumap[cpus] = 64
        assert e.value.errno == errno.ENODEV


def test_cpumap_slot_with_a_program():
    with bpf.CpuMap(None, value_size=8) as cpumap, returning(k.XDP_PASS, k.BPF_XDP_CPUMAP) as prog, \
            returning(k.XDP_PASS) as plain:
        cpumap[0] = (128, prog)
        assert cpumap[0] == bpf.CpuMapValue(128, prog.id)
        with pytest.raises(SyscallError, match="BPF_XDP_CPUMAP"):
            cpumap[0] = (128, plain)


def test_redirect_through_a_cpumap():
    with bpf.CpuMap() as cpumap, redirecting(cpumap, 0) as prog:
        assert prog.test_run(FRAME).action == PASS
        cpumap[0] = 256
        assert prog.test_run(FRAME).action == REDIRECT


# -- PROG_ARRAY ------------------------------------------------------------------------------

def test_prog_array_holds_programs_and_reads_back_ids():
    with bpf.ProgArray(4) as progs, returning(k.XDP_DROP) as drop, returning(k.XDP_TX) as tx:
        progs[1] = drop
        progs[2] = tx.fd
        assert dict(progs) == {1: drop.id, 2: tx.id} and len(progs) == 2
        del progs[1]
        with pytest.raises(KeyError):
            del progs[1]
        with bpf.ArrayMap(1) as not_a_prog, pytest.raises(SyscallError, match="not a program") as e:
            progs[0] = not_a_prog
        assert e.value.errno == errno.EINVAL
        r, w = os.pipe()
        os.close(w)
        os.close(r)
        with pytest.raises(SyscallError, match="not an open fd") as e:
            progs[0] = r
        assert e.value.errno == errno.EBADF
        with pytest.raises(TypeError, match="fileno"):
            progs[0] = "prog"


def test_tail_call_through_a_prog_array():
    with bpf.ProgArray(2) as progs, returning(k.XDP_DROP) as drop, returning(k.XDP_TX) as tx:
        main = bpf.load([LD.map_fd(R2, progs), ALU64.MOV.imm(R3, 1), JMP.CALL("tail_call"),
                         ALU64.MOV.imm(R0, k.XDP_PASS), JMP.EXIT()])
        with main:
            assert main.test_run(FRAME).action == PASS          # empty slot: the call falls through
            progs[1] = drop
            assert main.test_run(FRAME).action == DROP
            progs[1] = tx
            assert main.test_run(FRAME).action == TX
            del progs[1]
            assert main.test_run(FRAME).action == PASS


# -- maps of maps ----------------------------------------------------------------------------

def test_array_of_maps_holds_maps_and_reads_back_ids():
    with bpf.ArrayMap(2, 4) as template:
        outer = bpf.ArrayOfMaps(4, template)
    with outer, bpf.ArrayMap(2, 4) as a, bpf.ArrayMap(2, 4) as b:     # the template may be gone
        outer[0] = a
        outer[3] = b.fd
        assert dict(outer) == {0: a.id, 3: b.id}
        del outer[0]
        assert list(outer) == [3]
        with bpf.ArrayMap(3, 4) as longer, pytest.raises(SyscallError, match="differs from inner_map"):
            outer[1] = longer
        with bpf.HashMap(4, 4, 2) as other, pytest.raises(SyscallError, match="differs from inner_map"):
            outer[1] = other


def test_hash_of_maps():
    with bpf.HashMap(4, 8, 4) as template, bpf.HashOfMaps(6, 2, template) as outer, \
            bpf.HashMap(4, 8, 4) as inner:
        mac = bytes.fromhex("020000000001")
        outer[mac] = inner
        outer[bytes(6)] = inner
        assert dict(outer) == {mac: inner.id, bytes(6): inner.id}
        with pytest.raises(SyscallError, match="the map is full"):
            outer[b"\1" * 6] = inner
        del outer[mac]
        with pytest.raises(KeyError):
            del outer[mac]


def test_a_program_looks_through_a_map_of_maps():
    with bpf.ArrayMap(1, 4) as template, bpf.ArrayOfMaps(1, template) as outer, \
            bpf.ArrayMap(1, 4) as drops, bpf.ArrayMap(1, 4) as txs:
        drops[0], txs[0] = k.XDP_DROP, k.XDP_TX
        prog = bpf.load(Program([
            ST.W(R10, -4, 0),
            LD.map_fd(R1, outer), ALU64.MOV.reg(R2, R10), ALU64.ADD.imm(R2, -4),
            JMP.CALL("map_lookup_elem"),
            JMP.JEQ.imm(R0, 0, "pass"),
            ALU64.MOV.reg(R1, R0), ALU64.MOV.reg(R2, R10), ALU64.ADD.imm(R2, -4),
            JMP.CALL("map_lookup_elem"),
            JMP.JEQ.imm(R0, 0, "pass"),
            LDX.W(R0, R0, 0),
            JMP.EXIT(),
            label("pass"),
            ALU64.MOV.imm(R0, k.XDP_PASS),
            JMP.EXIT(),
        ]))
        with prog:
            assert prog.test_run(FRAME).action == PASS
            outer[0] = drops
            assert prog.test_run(FRAME).action == DROP
            outer[0] = txs
            assert prog.test_run(FRAME).action == TX


# -- create_map ------------------------------------------------------------------------------

# (map type, key size, value size, max_entries, flags, create_map keywords) for each class
CREATABLE = {
    bpf.ArrayMap: (k.BPF_MAP_TYPE_ARRAY, 4, 8, 2, 0, {}),
    bpf.PerCpuArrayMap: (k.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 2, 0, {}),
    bpf.HashMap: (k.BPF_MAP_TYPE_HASH, 4, 8, 2, 0, {}),
    bpf.PerCpuHashMap: (k.BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 2, 0, {}),
    bpf.LruHashMap: (k.BPF_MAP_TYPE_LRU_HASH, 4, 8, 2, 0, {}),
    bpf.LruPerCpuHashMap: (k.BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 2, 0, {}),
    bpf.LpmTrieMap: (k.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 2, k.BPF_F_NO_PREALLOC, {}),
    bpf.XskMap: (k.BPF_MAP_TYPE_XSKMAP, 4, 4, 2, 0, {}),
    bpf.DevMap: (k.BPF_MAP_TYPE_DEVMAP, 4, 8, 2, 0, {}),
    bpf.DevMapHash: (k.BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 2, 0, {}),
    bpf.CpuMap: (k.BPF_MAP_TYPE_CPUMAP, 4, 4, 1, 0, {}),
    bpf.ProgArray: (k.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2, 0, {}),
    bpf.ArrayOfMaps: (k.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, {"inner": True}),
    bpf.HashOfMaps: (k.BPF_MAP_TYPE_HASH_OF_MAPS, 8, 4, 2, 0, {"inner": True}),
}


def make(cls, name=None):
    map_type, key_size, value_size, max_entries, flags, extra = CREATABLE[cls]
    if extra.get("inner"):
        with bpf.ArrayMap(1, 4) as template:
            return bpf.create_map(map_type, key_size, value_size, max_entries, flags, name,
                                  inner_map=template)
    return bpf.create_map(map_type, key_size, value_size, max_entries, flags, name)


@pytest.mark.parametrize("cls", list(CREATABLE), ids=lambda c: c.__name__)
def test_create_map_gives_the_class_of_the_type(cls):
    map_type, key_size, value_size, max_entries, flags, _ = CREATABLE[cls]
    with make(cls, name="pyxsk_made") as m:
        assert type(m) is cls is bpf.map_class(map_type)
        assert (m.map_type, m.key_size, m.value_size, m.max_entries, m.flags, m.name) == (
            map_type, key_size, value_size, max_entries, flags, "pyxsk_made")
        info = m.info()
        assert (info.type, info.name, info.key_size, info.value_size, info.max_entries) == (
            map_type, "pyxsk_made", key_size, value_size, max_entries)
        assert m.id == info.id and info.type_name == bpf_maps.type_name(map_type)
        assert len(m) == (max_entries if cls in (bpf.ArrayMap, bpf.PerCpuArrayMap) else 0)


def test_create_map_of_a_type_without_a_class_and_with_map_extra():
    with bpf.create_map(k.BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 16, map_extra=3, name="pyxsk_bloom") as m:
        assert type(m) is bpf.Map and "BLOOM_FILTER" in m._what
        raw = bpf_syscall._info(m.fd, k.bpf_map_info(), "info")
        assert raw.map_extra == 3


def test_create_map_numa_node_sets_the_flag():
    with bpf.create_map(k.BPF_MAP_TYPE_HASH, 4, 4, 4, numa_node=0) as m:
        assert m.flags == k.BPF_F_NUMA_NODE and m.info().flags == k.BPF_F_NUMA_NODE


def load_btf_int():
    """BPF_BTF_LOAD of the smallest BTF: type 1 is a signed 32-bit "int"."""
    strings = b"\0int\0"
    int_type = struct.pack("<III", 1, 1 << 24, 4) + struct.pack("<I", (1 << 24) | 32)  # BTF_KIND_INT
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(int_type), len(int_type), len(strings))
    blob = header + int_type + strings
    buf = ctypes.create_string_buffer(blob, len(blob))
    attr = k.bpf_attr_btf_load(btf=ctypes.addressof(buf), btf_size=len(blob))
    return bpf_syscall._sys_bpf(k.BPF_BTF_LOAD, attr, "bpf(BPF_BTF_LOAD)")


def test_create_map_passes_btf_type_ids():
    btf_fd = load_btf_int()
    try:
        with bpf.create_map(k.BPF_MAP_TYPE_HASH, 4, 4, 2, btf=btf_fd, btf_key_type_id=1,
                            btf_value_type_id=1) as m:
            raw = bpf_syscall._info(m.fd, k.bpf_map_info(), "info")
            assert raw.btf_id > 0 and (raw.btf_key_type_id, raw.btf_value_type_id) == (1, 1)
        with pytest.raises(SyscallError, match="BPF_MAP_CREATE"):
            bpf.create_map(k.BPF_MAP_TYPE_HASH, 8, 4, 2, btf=btf_fd, btf_key_type_id=1)  # 8 != int
    finally:
        os.close(btf_fd)


def test_create_map_checks_its_arguments_first():
    cases = [
        dict(map_type=k.BPF_MAP_TYPE_HASH, key_size=-1),
        dict(map_type=k.BPF_MAP_TYPE_HASH, key_size=1 << 32),
        dict(map_type=k.BPF_MAP_TYPE_HASH, max_entries=0),
        dict(map_type=k.BPF_MAP_TYPE_HASH, value_size=True),
        dict(map_type=k.BPF_MAP_TYPE_HASH, btf_key_type_id=1),          # without btf=
        dict(map_type=k.BPF_MAP_TYPE_HASH, map_extra=-1),
        dict(map_type=k.BPF_MAP_TYPE_HASH, numa_node=-1),
        dict(map_type=k.BPF_MAP_TYPE_HASH, name="no spaces"),
        dict(map_type=k.BPF_MAP_TYPE_ARRAY_OF_MAPS),                    # without inner_map=
        dict(map_type=k.BPF_MAP_TYPE_HASH_OF_MAPS),
    ]
    for case in cases:
        args = dict(key_size=4, value_size=4, max_entries=2)
        args.update(case)
        with pytest.raises(ConfigError):
            bpf.create_map(**args)
    with pytest.raises(ConfigError, match="inner_map"):
        bpf.create_map(k.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2)
    with pytest.raises(SyscallError, match=r"DEVMAP.*8 \(struct bpf_devmap_val\)") as e:
        bpf.create_map(k.BPF_MAP_TYPE_DEVMAP, 4, 12, 2)
    assert e.value.errno == errno.EINVAL


def test_failed_creations_and_adoptions_leak_nothing(no_leaks, bpffs):
    for _ in range(200):
        with pytest.raises(SyscallError):
            bpf.create_map(k.BPF_MAP_TYPE_CPUMAP, 4, 12, 1)
        with pytest.raises(FileNotFoundError):
            bpf.Map.from_pinned(os.path.join(bpffs, "nothing"))
    with returning(k.XDP_PASS) as prog:
        prog.pin(os.path.join(bpffs, "prog"))
    for _ in range(200):
        with pytest.raises(ConfigError, match="not a BPF map"):
            bpf.Map.from_pinned(os.path.join(bpffs, "prog"))


# -- adopting --------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", list(CREATABLE), ids=lambda c: c.__name__)
def test_from_fd_pinned_and_id_give_the_class_of_the_type(cls, bpffs):
    path = os.path.join(bpffs, "m")
    with make(cls, name="pyxsk_adopt") as made:
        made.pin(path)
        adopted = [bpf.Map.from_fd(os.dup(made.fd)), bpf.Map.from_pinned(path),
                   bpf.map_by_id(made.id), cls.from_fd(os.dup(made.fd)), cls.from_pinned(path)]
        for m in adopted:
            with m:
                assert type(m) is cls and m.fd != made.fd
                # flags as the kernel keeps them (a DEVMAP gains BPF_F_RDONLY_PROG)
                assert (m.id, m.map_type, m.key_size, m.value_size, m.max_entries, m.flags,
                        m.name) == (made.id, made.map_type, made.key_size, made.value_size,
                                    made.max_entries, made.info().flags, "pyxsk_adopt")
                assert repr(m).startswith("<%s fd=%d 'pyxsk_adopt'" % (cls.__name__, m.fd))
                if isinstance(m, (bpf.PerCpuArrayMap, bpf.PerCpuHashMap)):
                    assert m.cpus == bpf.possible_cpus()
    os.unlink(path)


def test_adopted_maps_work_as_made_ones(bpffs):
    path = os.path.join(bpffs, "counts")
    with bpf.PerCpuArrayMap(2, name="pyxsk_pc") as made:
        made[1] = 5
        made.pin(path)
    with bpf.Map.from_pinned(path) as m:                        # alive through the pin alone
        assert isinstance(m, bpf.PerCpuArrayMap) and m[1] == [5] * m.cpus and m.sum(1) == 5 * m.cpus
        m[0] = 1
    with bpf.PerCpuArrayMap.from_pinned(path, k.BPF_F_RDONLY) as ro:
        assert ro.sum(0) == ro.cpus
        with pytest.raises(PermissionError, match="read-only"):
            ro[0] = 2
    with bpf.Map.from_pinned(path, k.BPF_F_WRONLY) as wo:
        wo[0] = 3
        with pytest.raises(PermissionError):
            wo[0]
    os.unlink(path)


def test_an_adopted_xskmap_takes_sockets():
    fd = _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0)
    try:
        with bpf.XskMap(4) as made, bpf.map_by_id(made.id) as adopted:
            assert isinstance(adopted, bpf.XskMap) and dict(adopted) == {}
            adopted[2] = fd
            assert dict(adopted) == {2: fd} and 2 in adopted
            with redirecting(made, 2) as prog:
                assert prog.test_run(FRAME).action == REDIRECT      # the same kernel map
            del adopted[2]
            assert len(adopted) == 0
    finally:
        _libc.close(fd)


def test_adopting_refuses_what_is_not_that_map():
    with bpf.HashMap(4, 4, 2) as h, returning(k.XDP_PASS) as prog:
        fd = os.dup(h.fd)
        try:
            with pytest.raises(ConfigError, match="of type HASH .*not XskMap"):
                bpf.XskMap.from_fd(fd)
            with pytest.raises(ConfigError, match="not ArrayMap"):
                bpf.ArrayMap.from_fd(fd)
            assert os.readlink("/proc/self/fd/%d" % fd) == "anon_inode:bpf-map"   # still the caller's
        finally:
            os.close(fd)
        with pytest.raises(ConfigError, match="anon_inode:bpf-prog, not a BPF map"):
            bpf.Map.from_fd(prog.fd)
        r, w = os.pipe()
        os.close(w)
        os.close(r)
        with pytest.raises(OSError, match="is not open") as e:
            bpf.Map.from_fd(r)
        assert e.value.errno == errno.EBADF
        for bad in (-1, True, "3", None):
            with pytest.raises(ConfigError):
                bpf.Map.from_fd(bad)
        with bpf.LruHashMap(4, 4, 2) as lru:
            fd = os.dup(lru.fd)
            with bpf.HashMap.from_fd(fd) as m:                  # an LRU hash is a hash
                assert type(m) is bpf.LruHashMap


def test_map_by_id_and_from_pinned_check_their_arguments(bpffs):
    for bad in (0, -1, 1 << 32, True, "7"):
        with pytest.raises(ConfigError):
            bpf.map_by_id(bad)
    for flags in (k.BPF_F_RDONLY | k.BPF_F_WRONLY, 1, True):
        with pytest.raises(ConfigError, match="open flags"):
            bpf.map_by_id(1, flags)
        with pytest.raises(ConfigError, match="open flags"):
            bpf.Map.from_pinned(os.path.join(bpffs, "x"), flags)
    with bpf.ArrayMap(1) as m:
        map_id = m.id
    with pytest.raises(FileNotFoundError, match="no map has id %d" % map_id):
        bpf.map_by_id(map_id)                                   # freed with its last fd


# -- what the type checker sees --------------------------------------------------------------

USER_PROGRAM = '''
import ipaddress
from pyxsk import bpf


def main() -> None:
    reveal_type(bpf.DevMap(4))
    reveal_type(bpf.DevMap(4, 8))
    reveal_type(bpf.DevMapHash(4, value_size=8)[1])
    reveal_type(bpf.CpuMap())
    reveal_type(bpf.LpmTrieMap(4, 4, 16))
    trie = bpf.LpmTrieMap(16, 32, 16)
    trie[ipaddress.ip_network("2001:db8::/32")] = b"x" * 32
    for key in trie:
        reveal_type(key)
    reveal_type(bpf.PerCpuHashMap(4, 8, 16))
    reveal_type(bpf.LruHashMap(6, 8, 16))
    reveal_type(bpf.ProgArray(4)[0])
    reveal_type(bpf.XskMap.from_fd(3))
    reveal_type(bpf.create_map(1, 4, 4, 4))
    reveal_type(bpf.HashOfMaps(4, 4, 3))
'''

EXPECTED = [
    r"pyxsk\.bpf\.maps\.DevMap\[builtins\.int\]",
    r"pyxsk\.bpf\.maps\.DevMap\[.*DevMapValue\]\]?",
    r".*DevMapValue\]?",
    r"pyxsk\.bpf\.maps\.CpuMap\[builtins\.int\]",
    r"pyxsk\.bpf\.maps\.LpmTrieMap\[builtins\.int\]",
    r".*LpmKey\]?",
    r"pyxsk\.bpf\.maps\.PerCpuHashMap\[builtins\.int, builtins\.int\]",
    r"pyxsk\.bpf\.maps\.LruHashMap\[Union\[builtins\.int, builtins\.bytes\], builtins\.int\]",
    r"builtins\.int",
    r"pyxsk\.bpf\.maps\.XskMap",
    r"pyxsk\.bpf\.maps\.Map\[Any, Any\]",
    r"pyxsk\.bpf\.maps\.HashOfMaps\[builtins\.int\]",
]


def test_the_new_classes_give_concrete_types(tmp_path):
    from test_typing import ROOT, _python_with_mypy
    python = _python_with_mypy()
    program = tmp_path / "user_maps.py"
    program.write_text(USER_PROGRAM)
    run = subprocess.run([python, "-m", "mypy", "--strict", "--python-version", "3.8",
                          "--no-incremental", "--follow-imports", "silent", "--config-file", os.devnull,
                          str(program)],
                         cwd=ROOT, env=dict(os.environ, MYPYPATH=ROOT),
                         capture_output=True, text=True, timeout=600)
    revealed = re.findall(r'Revealed type is "(.*)"', run.stdout)
    others = [line for line in run.stdout.splitlines()
              if ": error:" in line or (": note:" in line and "Revealed type" not in line)]
    assert not others, run.stdout
    assert len(revealed) == len(EXPECTED), run.stdout
    for pattern, found in zip(EXPECTED, revealed):
        assert re.fullmatch(pattern, found), (pattern, found)
