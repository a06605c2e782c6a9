"""pyxsk.bpf against the running kernel: maps, program load, verifier errors,
RLIMIT_MEMLOCK handling, BPF_PROG_TEST_RUN, XDP links on a veth of our own."""

import errno
import hashlib
import os
import socket
import subprocess

import pytest

from minimal_prog import xdp_pass_program
from pyxsk import _libc, bpf, capabilities
from pyxsk.bpf import maps as bpf_maps, programs as bpf_programs, syscall as bpf_syscall
from pyxsk.net import netns
from pyxsk.bpf import xdp
from pyxsk.bpf.asm import ALU64, JMP, LD, LDX, R0, R1, R2, XDP_MD_DATA, XDP_MD_DATA_END, Program
from pyxsk.errors import AsmError, ConfigError, SyscallError, VerifierError
from pyxsk.testing import unique_name
from pyxsk.uapi import bpf as k
from pyxsk.uapi import if_link as ifla
from pyxsk.uapi import if_xdp

pytestmark = pytest.mark.root

RETURN_PASS = [ALU64.MOV.imm(R0, k.XDP_PASS), JMP.EXIT()]
CYCLES = 1000


def xsk_socket():
    return _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0)


# -- maps ---------------------------------------------------------------------------

def test_array_map_is_a_mapping_of_its_indexes():
    with bpf.ArrayMap(max_entries=4, name="pyxsk_arr") as arr:
        assert dict(arr) == {0: 0, 1: 0, 2: 0, 3: 0} and len(arr) == 4
        arr[2] = 7
        arr[3] = b"\x01" + bytes(7)
        assert arr[2] == 7 and arr[3] == 1 and 2 in arr and 4 not in arr
        with pytest.raises(KeyError):
            arr[4]
        with pytest.raises(SyscallError, match="beyond max_entries 4") as e:
            arr[4] = 1
        assert e.value.errno == errno.E2BIG
        with pytest.raises(SyscallError, match="cannot be deleted") as e:
            del arr[0]
        assert e.value.errno == errno.EINVAL and e.value.call.startswith("bpf(BPF_MAP_DELETE_ELEM")
        info = arr.info()
        assert (info.type, info.name, info.key_size, info.value_size, info.max_entries) == (
            k.BPF_MAP_TYPE_ARRAY, "pyxsk_arr", 4, 8, 4)
        assert arr.id == info.id > 0
        assert "pyxsk_arr" in repr(arr) and "max_entries=4" in repr(arr)


def test_update_is_also_mutable_mapping_update():
    with bpf.ArrayMap(max_entries=4) as arr:
        arr.update({1: 5})
        arr.update([(2, 6)])
        arr.update()
        assert dict(arr) == {0: 0, 1: 5, 2: 6, 3: 0}
        arr.update(3, 7, k.BPF_EXIST)
        arr.update(0, value=8)
        assert dict(arr) == {0: 8, 1: 5, 2: 6, 3: 7}
        with pytest.raises(TypeError, match="flags go with"):
            arr.update({1: 1}, flags=k.BPF_EXIST)
        with pytest.raises(TypeError, match="no other keywords"):
            arr.update(1, 1, bogus=2)
    fd = xsk_socket()
    try:
        with bpf.XskMap(max_entries=2) as xskmap:
            xskmap.update({1: fd})
            assert dict(xskmap) == {1: fd}
    finally:
        _libc.close(fd)


def test_hash_map_keys_values_and_flags():
    with bpf.HashMap(key_size=6, value_size=4, max_entries=2) as h:
        mac = bytes.fromhex("020000000001")
        h[mac] = 5
        assert h[mac] == 5 and list(h) == [mac] and h.get(b"\0" * 6) is None
        with pytest.raises(FileExistsError):
            h.update(mac, 6, k.BPF_NOEXIST)
        with pytest.raises(FileNotFoundError):
            h.update(b"\1" * 6, 6, k.BPF_EXIST)
        h[b"\1" * 6] = 1
        with pytest.raises(SyscallError, match="the map is full"):
            h[b"\2" * 6] = 1
        del h[mac]
        with pytest.raises(KeyError):
            del h[mac]
        assert dict(h) == {b"\1" * 6: 1}
        with pytest.raises(ValueError, match="must be 6 bytes"):
            h[b"\0"] = 1
        with pytest.raises(TypeError):
            h[7] = 1            # 6-byte keys are bytes
        with pytest.raises(ValueError, match="does not fit in 4 bytes"):
            h[b"\3" * 6] = 1 << 40


def test_percpu_array_holds_one_value_per_cpu():
    with bpf.PerCpuArrayMap(max_entries=2) as m:
        assert m.cpus == bpf.possible_cpus() >= len(os.sched_getaffinity(0))
        values = list(range(1, m.cpus + 1))
        m[1] = values
        assert m[1] == values and m.sum(1) == sum(values) and m[0] == [0] * m.cpus
        m[0] = 3
        assert m[0] == [3] * m.cpus
        with pytest.raises(ValueError, match="per-CPU values"):
            m[0] = [1] * (m.cpus + 1)


def test_map_creation_errors_and_names():
    with pytest.raises(ConfigError, match="max_entries"):
        bpf.ArrayMap(max_entries=0)
    with pytest.raises(ConfigError, match="map name"):
        bpf.ArrayMap(max_entries=1, name="has space")
    with pytest.raises(ConfigError, match="map name"):
        bpf.ArrayMap(max_entries=1, name="x" * 16)
    with pytest.raises(SyscallError, match="BPF_MAP_CREATE") as e:
        bpf.Map(k.BPF_MAP_TYPE_XSKMAP, 8, 4, 1)      # XSKMAP keys are 4 bytes
    assert e.value.errno == errno.EINVAL


def test_close_is_idempotent_and_shows_in_repr():
    m = bpf.ArrayMap(max_entries=1)
    fd = m.fileno()
    assert m.fd == fd and not m.closed and "fd=%d" % fd in repr(m)
    m.close()
    m.close()
    assert m.closed and repr(m) == "<ArrayMap [closed]>"
    with pytest.raises(ValueError, match="closed"):
        m.fileno()
    with pytest.raises(ValueError, match="closed"):
        m[0]
    with pytest.raises(AsmError, match="closed"):
        LD.map_fd(R1, m)
    link = "/proc/self/fd/%d" % fd
    assert not os.path.exists(link) or "bpf-map" not in os.readlink(link)


# -- XSKMAP -------------------------------------------------------------------------

def test_xskmap_accepts_an_af_xdp_socket():
    fd = xsk_socket()
    try:
        with bpf.XskMap(max_entries=4) as xskmap:
            xskmap[0] = fd
            assert xskmap[0] == fd and 0 in xskmap and list(xskmap) == [0] and len(xskmap) == 1
            del xskmap[0]
            assert 0 not in xskmap and len(xskmap) == 0
            del xskmap[1]       # an empty slot: the kernel empties it again
    finally:
        _libc.close(fd)


def test_xskmap_takes_any_object_with_fileno():
    class Sock:
        def __init__(self):
            self.fd = xsk_socket()

        def fileno(self):
            return self.fd
    sock = Sock()
    try:
        with bpf.XskMap(max_entries=2) as xskmap:
            xskmap[1] = sock
            assert xskmap[1] is sock
    finally:
        _libc.close(sock.fd)


def test_xskmap_rejects_other_fds_clearly():
    with bpf.XskMap(max_entries=2) as xskmap:
        r, w = os.pipe()
        try:
            with pytest.raises(SyscallError, match="not a socket") as e:
                xskmap[0] = r
            assert e.value.errno == errno.ENOTSOCK
        finally:
            os.close(r)
            os.close(w)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(SyscallError, match="must be an AF_XDP socket") as e:
                xskmap[0] = udp
            assert e.value.errno == errno.EOPNOTSUPP
        fd = xsk_socket()
        try:
            with pytest.raises(SyscallError, match="beyond max_entries 2"):
                xskmap[2] = fd
        finally:
            _libc.close(fd)
        with pytest.raises(TypeError, match="fileno"):
            xskmap[0] = "eth0"
        assert len(xskmap) == 0


def test_redirect_uses_the_socket_in_the_queue_slot():
    fd = xsk_socket()
    try:
        with bpf.XskMap(max_entries=1) as xskmap, bpf.load(xdp.redirect_all(xskmap)) as prog:
            assert prog.test_run(bytes(64)).action == bpf.XdpAction.PASS      # empty slot
            xskmap[0] = fd
            assert prog.test_run(bytes(64)).action == bpf.XdpAction.REDIRECT
            del xskmap[0]
            assert prog.test_run(bytes(64)).action == bpf.XdpAction.PASS
    finally:
        _libc.close(fd)


# -- leaks ---------------------------------------------------------------------------

def test_no_fd_or_mapping_leak_over_many_cycles(no_leaks):
    for _ in range(CYCLES):
        with bpf.XskMap(max_entries=1) as xskmap:
            with bpf.load(xdp.redirect_all(xskmap)) as prog:
                assert prog.id > 0
        arr = bpf.ArrayMap(max_entries=1)
        arr[0] = 1
        arr.close()


def test_failed_creations_leak_nothing(no_leaks):
    for _ in range(CYCLES):
        with pytest.raises(VerifierError):
            bpf.load([JMP.EXIT()])
        with pytest.raises(SyscallError):
            bpf.Map(k.BPF_MAP_TYPE_XSKMAP, 8, 4, 1)


# -- programs ---------------------------------------------------------------------------

def test_load_reports_id_tag_name():
    prog_insns = Program(RETURN_PASS)
    with bpf.load(prog_insns, name="pyxsk_pass") as prog:
        assert prog.id > 0 and prog.name == "pyxsk_pass" and prog.type == k.BPF_PROG_TYPE_XDP
        # the kernel's tag: the first 8 bytes of SHA-256 (SHA-1 before 6.18) of the instructions
        raw = prog_insns.assemble()
        assert prog.tag in (hashlib.sha256(raw).hexdigest()[:16], hashlib.sha1(raw).hexdigest()[:16])
        info = prog.info()
        assert (info.id, info.name, info.tag) == (prog.id, "pyxsk_pass", prog.tag)
        assert "pyxsk_pass" in repr(prog) and prog.tag in repr(prog)
        assert prog.log == ""
    assert repr(prog) == "<Prog [closed]>"


def test_load_accepts_instruction_lists_and_bytes():
    with bpf.load(RETURN_PASS) as a, bpf.load(Program(RETURN_PASS).assemble()) as b:
        assert a.tag == b.tag


def test_verifier_error_carries_the_log():
    with pytest.raises(VerifierError) as e:
        bpf.load([JMP.EXIT()], name="pyxsk_bad")      # R0 never set
    err = e.value
    assert isinstance(err, PermissionError) and err.errno == errno.EACCES
    assert "R0 !read_ok" in err.log and "R0 !read_ok" in str(err) and "R0 !read_ok" in err.hint
    assert err.call == "bpf(BPF_PROG_LOAD, 'pyxsk_bad', 1 instructions)"


def test_verifier_rejects_unchecked_packet_access():
    with pytest.raises(VerifierError, match="invalid access to packet") as e:
        bpf.load([LDX.W(R2, R1, XDP_MD_DATA), LDX.B(R0, R2, 0), JMP.EXIT()])
    assert "0: (61) r2 = *(u32 *)(r1 +0)" in e.value.log


def test_log_grows_on_enospc(monkeypatch):
    """With a tiny first buffer the kernel answers ENOSPC; the whole log still arrives."""
    monkeypatch.setattr(bpf_programs, "LOG_START_SIZE", 32)
    long_prog = [ALU64.MOV.imm(R2, i) for i in range(200)] + [JMP.EXIT()]
    with pytest.raises(VerifierError) as e:
        bpf.load(long_prog, log_level=k.BPF_LOG_LEVEL2)
    assert e.value.errno == errno.EACCES
    assert "199: (b7) r2 = 199" in e.value.log and "R0 !read_ok" in e.value.log


@pytest.mark.parametrize("level,marker", [
    (k.BPF_LOG_LEVEL1, "processed 2 insns"),
    (k.BPF_LOG_LEVEL2, "Live regs before insn"),
    (k.BPF_LOG_STATS, "verification time"),
])
def test_log_levels_on_success(level, marker):
    with bpf.load(RETURN_PASS, log_level=level) as prog:
        assert marker in prog.log


def test_xdp_program_may_be_loaded_with_frags():
    with bpf.load(RETURN_PASS, flags=k.BPF_F_XDP_HAS_FRAGS) as prog:
        assert prog.test_run(bytes(64), linear_size=0).action == bpf.XdpAction.PASS


# -- RLIMIT_MEMLOCK (an old kernel played by replacing _libc calls) ----------------------------

@pytest.fixture
def old_kernel(monkeypatch):
    """bpf(2) answers EPERM while RLIMIT_MEMLOCK is below ``need``.
    ``set_fails``: setrlimit refuses everything; ``hard_cap``: it refuses to
    go above the hard limit, as for a process without CAP_SYS_RESOURCE."""
    state = {"limit": (64 * 1024, 64 * 1024), "need": 1 << 20, "set": [], "set_fails": False,
             "hard_cap": False, "eperm": 0}
    real = _libc.raw_bpf
    for attr in ("tried", "before", "after", "error"):
        monkeypatch.setattr(bpf_syscall._Memlock, attr, getattr(bpf_syscall._Memlock, attr))
    bpf_syscall._Memlock.tried, bpf_syscall._Memlock.before, bpf_syscall._Memlock.after = False, None, None

    def raw_bpf(cmd, attr, size=None):
        if cmd in (k.BPF_MAP_CREATE, k.BPF_PROG_LOAD) and state["limit"][0] < state["need"]:
            state["eperm"] += 1
            return -1, errno.EPERM
        return real(cmd, attr, size)

    def setrlimit(resource, soft, hard, call="setrlimit", hints=None):
        assert resource == _libc.RLIMIT_MEMLOCK
        state["set"].append((soft, hard))
        if state["set_fails"] or (state["hard_cap"] and hard > state["limit"][1]):
            raise _libc.syscall_error(errno.EPERM, call)
        state["limit"] = (soft, hard)

    monkeypatch.setattr(_libc, "raw_bpf", raw_bpf)
    monkeypatch.setattr(_libc, "getrlimit", lambda resource, call=None: state["limit"])
    monkeypatch.setattr(_libc, "setrlimit", setrlimit)
    return state


def test_memlock_is_raised_only_on_eperm(old_kernel):
    with bpf.ArrayMap(max_entries=1) as m:
        assert m.id > 0
    assert old_kernel["set"] == [(_libc.RLIM_INFINITY, _libc.RLIM_INFINITY)]
    assert old_kernel["eperm"] == 1
    with bpf.ArrayMap(max_entries=1), bpf.load(RETURN_PASS):
        pass
    assert len(old_kernel["set"]) == 1      # once is enough


def test_memlock_not_touched_when_not_needed(old_kernel):
    old_kernel["need"] = 0
    with bpf.ArrayMap(max_entries=1), bpf.load(RETURN_PASS):
        pass
    assert old_kernel["set"] == []


def test_memlock_that_cannot_be_raised_is_named(old_kernel):
    old_kernel["set_fails"] = True
    with pytest.raises(PermissionError, match=r"RLIMIT_MEMLOCK is 65536 bytes and pyxsk could not "
                       r"raise it \(setrlimit\(RLIMIT_MEMLOCK\) failed: \[Errno 1 EPERM\]"):
        bpf.load(RETURN_PASS)


def test_memlock_at_its_hard_limit_is_not_said_to_be_raised(old_kernel):
    """soft == hard and no CAP_SYS_RESOURCE: setting it to the hard limit
    "succeeds" but changes nothing, and the message must not call that a raise."""
    old_kernel["hard_cap"] = True
    with pytest.raises(PermissionError) as info:
        bpf.ArrayMap(max_entries=1)
    assert old_kernel["set"] == [(_libc.RLIM_INFINITY, _libc.RLIM_INFINITY), (65536, 65536)]
    text = str(info.value)
    assert "RLIMIT_MEMLOCK is 65536 bytes and pyxsk could not raise it (it is the hard limit " \
           "too, and going above that needs CAP_SYS_RESOURCE)" in text, text
    assert "raised from" not in text
    assert old_kernel["eperm"] == 1          # nothing changed, so no second try


def test_memlock_raised_to_the_hard_limit_says_both_values(old_kernel):
    old_kernel.update(hard_cap=True, limit=(65536, 1 << 30), need=_libc.RLIM_INFINITY + 1)
    with pytest.raises(PermissionError, match="RLIMIT_MEMLOCK was raised from 65536 bytes to "
                                              "1073741824 bytes and the kernel still refused"):
        bpf.ArrayMap(max_entries=1)
    assert old_kernel["eperm"] == 2          # the retry after the raise


def test_a_missing_capability_is_named_before_memlock(old_kernel, monkeypatch):
    old_kernel["need"] = _libc.RLIM_INFINITY + 1      # the EPERM stays
    held = frozenset(("CAP_BPF", "CAP_NET_RAW"))
    monkeypatch.setattr(capabilities, "effective", lambda: held)
    with pytest.raises(PermissionError) as info:
        bpf.XskMap(1)
    text = str(info.value)
    assert "creating a BPF map (XSKMAP) needs CAP_BPF and CAP_NET_ADMIN" in text, text
    assert text.endswith("this process lacks CAP_NET_ADMIN)") and "RLIMIT_MEMLOCK" not in text
    with pytest.raises(PermissionError, match="loading an XDP program needs CAP_BPF and "
                                              "CAP_NET_ADMIN .*lacks CAP_NET_ADMIN"):
        bpf.load(RETURN_PASS)


def test_eperm_after_raising_memlock_points_at_capabilities(old_kernel):
    old_kernel["need"] = _libc.RLIM_INFINITY + 1      # nothing helps
    with pytest.raises(PermissionError, match="raised from 65536 bytes to unlimited .* CAP_BPF"):
        bpf.ArrayMap(max_entries=1)


# -- test runs ------------------------------------------------------------------------------

def test_test_run_returns_action_frame_duration():
    frame = bytes(range(60))
    with bpf.load(RETURN_PASS) as prog:
        run = prog.test_run(frame, repeat=100)
        assert run.action == bpf.XdpAction.PASS and run.retval == k.XDP_PASS
        assert run.frame == frame and run.duration_ns >= 0
        assert prog.info().run_count == 0 or prog.info().run_count >= 100
    with bpf.load([ALU64.MOV.imm(R0, 77), JMP.EXIT()]) as prog:
        run = prog.test_run(frame)
        assert run.action == 77 and not isinstance(run.action, bpf.XdpAction)


def test_test_run_sees_the_frame_length():
    length = [LDX.W(R2, R1, XDP_MD_DATA), LDX.W(R0, R1, XDP_MD_DATA_END), ALU64.SUB.reg(R0, R2),
              JMP.EXIT()]
    with bpf.load(length) as prog:
        for size in (14, 60, 1500):
            assert prog.test_run(bytes(size)).retval == size
        for linear in (0, 5, 13, 64):
            run = prog.test_run(bytes(range(64)) + bytes(64), linear_size=linear)
            assert run.retval == linear and run.frame == bytes(range(64)) + bytes(64)


def test_test_run_input_errors():
    with bpf.load(RETURN_PASS) as prog:
        with pytest.raises(ConfigError, match="at least 14 bytes"):
            prog.test_run(bytes(13))
        with pytest.raises(ConfigError, match="repeat"):
            prog.test_run(bytes(14), repeat=0)
        with pytest.raises(ConfigError, match="linear_size"):
            prog.test_run(bytes(14), linear_size=15)


# -- XDP links on a veth of our own ------------------------------------------------------------

@pytest.fixture
def veth():
    """(namespace, name, peer) of a veth pair in a fresh namespace, removed afterwards."""
    ns, a, b = unique_name("ns"), unique_name("va"), unique_name("vb")
    netns.create(ns)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b],
                       check=True, capture_output=True)
        for dev in (a, b):
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True, capture_output=True)
        yield ns, a, b
    finally:
        netns.delete(ns)


def xdp_state(ns, dev):
    out = subprocess.run(["ip", "-n", ns, "-d", "link", "show", dev], check=True,
                         capture_output=True, text=True).stdout
    return out


@pytest.mark.parametrize("flags,word", [(ifla.XDP_FLAGS_SKB_MODE, "xdpgeneric"),
                                        (ifla.XDP_FLAGS_DRV_MODE, "xdp ")])
def test_link_attaches_and_close_detaches(veth, flags, word):
    ns, dev, _peer = veth
    with bpf.load(RETURN_PASS, name="pyxsk_link") as prog, netns.entered(ns):
        ifindex = _libc.if_nametoindex(dev)
        link = bpf.link_xdp(prog, dev, flags)
        try:
            info = link.info()
            assert (info.type, info.prog_id, info.ifindex) == (k.BPF_LINK_TYPE_XDP, prog.id, ifindex)
            assert link.ifindex == ifindex and link.prog_id == prog.id and link.id == info.id
            state = xdp_state(ns, dev)
            assert word in state and "id %d" % prog.id in state
            assert "prog_id=%d" % prog.id in repr(link)
        finally:
            link.close()
        link.close()
        assert repr(link) == "<Link [closed]>"
        state = xdp_state(ns, dev)
        assert "xdp" not in state.replace("xdp_", "")


def test_link_update_detach_and_conflicts(veth):
    ns, dev, _peer = veth
    with bpf.load(RETURN_PASS) as one, bpf.load([ALU64.MOV.imm(R0, k.XDP_DROP), JMP.EXIT()]) as two, \
            netns.entered(ns):
        with bpf.link_xdp(one, dev, ifla.XDP_FLAGS_SKB_MODE) as link:
            with pytest.raises(SyscallError, match="already attached") as e:
                bpf.link_xdp(two, dev, ifla.XDP_FLAGS_SKB_MODE)
            assert e.value.errno == errno.EBUSY
            link.update(two)
            assert link.prog_id == two.id
            link.detach()
            assert link.ifindex == 0
            with pytest.raises(SyscallError, match="BPF_LINK_UPDATE"):
                link.update(one)
        assert "xdpgeneric" not in xdp_state(ns, dev)


def test_link_argument_errors(veth):
    ns, dev, _peer = veth
    with bpf.load(RETURN_PASS) as prog, netns.entered(ns):
        with pytest.raises(ConfigError, match="one of XDP_FLAGS_SKB_MODE"):
            bpf.link_xdp(prog, dev, ifla.XDP_FLAGS_SKB_MODE | ifla.XDP_FLAGS_DRV_MODE)
        with pytest.raises(ConfigError, match="one of"):
            bpf.link_xdp(prog, dev, ifla.XDP_FLAGS_UPDATE_IF_NOEXIST)
        with pytest.raises(SyscallError, match="no such interface") as e:
            bpf.link_xdp(prog, "pyxsk_none0", ifla.XDP_FLAGS_SKB_MODE)
        assert e.value.errno == errno.ENODEV
        with pytest.raises(ConfigError, match="positive ifindex"):
            bpf.link_xdp(prog, 0, ifla.XDP_FLAGS_SKB_MODE)


def test_possible_cpus_reads_ranges_and_lists(tmp_path, monkeypatch):
    path = tmp_path / "possible"
    for text, count in (("0\n", 1), ("0-1\n", 2), ("0,2-3,8-15\n", 11)):
        path.write_text(text)
        monkeypatch.setattr(bpf_maps, "_POSSIBLE_CPUS", str(path))
        assert bpf.possible_cpus() == count


@pytest.mark.root
def test_prog_by_id_finds_a_loaded_program():
    with xdp_pass_program() as (_fd, prog_id):
        with bpf.prog_by_id(prog_id) as prog:
            assert (prog.id, prog.name, prog.type) == (prog_id, "pyxsk_pass", k.BPF_PROG_TYPE_XDP)
            assert prog.info().tag == prog.tag
    with pytest.raises(FileNotFoundError, match="no loaded program has id"):
        bpf.prog_by_id(prog_id)                     # unloaded when its last fd closed
    for bad in (0, -1, True, 1 << 32, "7"):
        with pytest.raises(ConfigError):
            bpf.prog_by_id(bad)
