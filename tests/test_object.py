"""The ELF object loader on small C programs built here with clang: what
pyxsk does that libbpf does too (linking, global data, constants, pins),
what it does that libbpf 1.x no longer does (legacy maps), and the clear
errors for what it does not support.  The libbpf/bpftool comparison of a
whole corpus is in test_object_oracle.py."""

import json
import os
import shutil
import subprocess

import pytest

from pyxsk import bpf
from pyxsk.bpf import asm, btf, elf
from pyxsk.errors import ConfigError, ObjectError, VerifierError
from pyxsk.uapi import bpf as k

CLANG = shutil.which("clang")
BPFTOOL = shutil.which("bpftool")
pytestmark = pytest.mark.skipif(CLANG is None, reason="clang is needed to build BPF objects")

HEADER = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char _license[] SEC("license") = "GPL";
"""
FRAME = bytes(range(64))


def build(tmp_path, source, name="prog", target="bpf", extra=()):
    src = tmp_path / (name + ".c")
    src.write_text(HEADER + source)
    out = tmp_path / (name + ".o")
    machine = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
    subprocess.run([CLANG, "-O2", "-g", "-target", target, "-I/usr/include/" + machine, *extra,
                    "-c", str(src), "-o", str(out)], check=True, capture_output=True)
    return str(out)


def bpftool_json(*args):
    out = subprocess.run([BPFTOOL, "-j", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


LINKED = """
static __noinline int twice(int x) { return x * 2; }
__noinline int plus_one(int x) { return x + 1; }
static __noinline int in_section(int x) { return twice(x) - 1; }
/* test runs see rx_queue_index 0: the calls cannot be folded at compile time */
SEC("xdp") int first(struct xdp_md *ctx) { return plus_one(twice(ctx->rx_queue_index + 1)) - 1; }
SEC("xdp") int second(struct xdp_md *ctx) {
    return in_section(ctx->rx_queue_index + 1) == 1 ? XDP_DROP : XDP_ABORTED;
}
SEC("xdp.frags") int with_frags(struct xdp_md *ctx) { return plus_one(ctx->rx_queue_index + 2); }
"""


def test_programs_in_one_section_call_static_and_global_functions(tmp_path):
    path = build(tmp_path, LINKED)
    spec = bpf.open_object(path)
    assert sorted(spec.programs) == ["first", "second", "with_frags"]
    assert spec.programs["with_frags"].flags == k.BPF_F_XDP_HAS_FRAGS
    assert spec.programs["first"].expected_attach_type == k.BPF_XDP
    with spec.load() as obj:
        assert obj.programs["first"].test_run(FRAME).action == bpf.XdpAction.PASS
        assert obj.programs["second"].test_run(FRAME).action == bpf.XdpAction.DROP
        assert obj.programs["with_frags"].test_run(FRAME).action == bpf.XdpAction.TX
        assert obj.programs["with_frags"].section == "xdp.frags"
        info = bpftool_json("prog", "show", "id", str(obj.programs["first"].info().id))
        assert info["name"] == "first" and info["btf_id"] > 0


def test_line_info_reaches_the_kernel(tmp_path):
    path = build(tmp_path, LINKED)
    with bpf.load_object(path) as obj:
        prog_id = obj.programs["second"].info().id
        out = subprocess.run([BPFTOOL, "prog", "dump", "xlated", "id", str(prog_id), "linum"],
                             check=True, capture_output=True, text=True).stdout
    assert "in_section(ctx->rx_queue_index + 1) == 1" in out and "prog.c line_num:" in out
    assert "int twice(int x)" in out          # the subprogram's func_info


GLOBALS = """
const volatile __u32 cfg_action = XDP_DROP;
const volatile __u8 cfg_bytes[3] = {1, 2, 3};
__u64 counter = 40;
__u32 zeroed;
SEC("xdp") int globals(struct xdp_md *ctx) {
    counter += 2; zeroed += cfg_bytes[2];
    return cfg_action;
}
"""


def test_global_data_and_constants_set_by_name(tmp_path):
    path = build(tmp_path, GLOBALS)
    spec = bpf.open_object(path)
    assert set(spec.constants) == {"cfg_action", "cfg_bytes"}
    with spec.load(constants={"cfg_action": bpf.XdpAction.TX, "cfg_bytes": b"\x07\x08\x09"}) as obj:
        run = obj.programs["globals"].test_run(FRAME)
        assert run.action == bpf.XdpAction.TX
        data, bss = obj.maps[".data"], obj.maps[".bss"]
        assert data[0] == 42 and bss[0] == 9          # 8 and 4 bytes: read back as ints
        info = bpftool_json("map", "show", "id", str(obj.maps[".rodata"].info().id))
        assert info["name"] == "prog.rodata" and info.get("frozen") == 1
        with pytest.raises(PermissionError):          # frozen: user space cannot write .rodata
            obj.maps[".rodata"][0] = bytes(obj.maps[".rodata"].value_size)
    with spec.load() as obj:
        assert obj.programs["globals"].test_run(FRAME).action == bpf.XdpAction.DROP


@pytest.mark.parametrize("constants, message", [
    ({"nope": 1}, "no global variable 'nope'"),
    ({"cfg_action": 1 << 40}, "does not fit in 4 bytes"),
    ({"cfg_bytes": b"\x01"}, "is 3 bytes, not 1"),
    ({"cfg_bytes": 5}, "give bytes, not an int"),
])
def test_bad_constants_are_refused_before_the_kernel(tmp_path, constants, message):
    spec = bpf.open_object(build(tmp_path, GLOBALS))
    with pytest.raises(ObjectError, match=message):
        spec.load(constants=constants)


LEGACY = """
struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def SEC("maps") legacy_hash = { BPF_MAP_TYPE_HASH, 4, 8, 16, 0 };
struct bpf_map_def SEC("maps") legacy_array = { BPF_MAP_TYPE_ARRAY, 4, 4, 2, 0 };
SEC("xdp") int legacy(struct xdp_md *ctx) {
    __u32 key = 1; __u32 *action = bpf_map_lookup_elem(&legacy_array, &key);
    __u64 one = 1; bpf_map_update_elem(&legacy_hash, &key, &one, BPF_ANY);
    return action ? *action : XDP_ABORTED;
}
"""


def test_legacy_maps_section_loads(tmp_path):
    """libbpf >= 1.0 refuses 'maps' sections; pyxsk still loads them."""
    path = build(tmp_path, LEGACY)
    with bpf.load_object(path) as obj:
        assert obj.maps["legacy_hash"].info()[1:] == (k.BPF_MAP_TYPE_HASH, "legacy_hash", 4, 8, 16, 0)
        obj.maps["legacy_array"][1] = bpf.XdpAction.PASS
        assert obj.programs["legacy"].test_run(FRAME).action == bpf.XdpAction.PASS
        assert obj.maps["legacy_hash"][1] == 1


PINNED = """
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __type(value, __u64); __uint(pinning, LIBBPF_PIN_BY_NAME); } shared_counts SEC(".maps");
SEC("xdp") int count(struct xdp_md *ctx) {
    __u32 key = 0; __u64 *v = bpf_map_lookup_elem(&shared_counts, &key);
    if (v) __sync_fetch_and_add(v, 1);
    return XDP_PASS;
}
"""


@pytest.fixture
def bpffs(tmp_path):
    root = tmp_path / "bpffs"
    root.mkdir()
    subprocess.run(["mount", "-t", "bpf", "bpf", str(root)], check=True)
    try:
        yield str(root)
    finally:
        subprocess.run(["umount", str(root)], check=True)


def test_pin_by_name_shares_a_map_between_loads(tmp_path, bpffs):
    path = build(tmp_path, PINNED)
    with bpf.load_object(path, pin_root=bpffs) as first:
        first.programs["count"].test_run(FRAME, repeat=3)
        with bpf.load_object(path, pin_root=bpffs) as second:
            assert second.maps["shared_counts"].info().id == first.maps["shared_counts"].info().id
            second.programs["count"].test_run(FRAME, repeat=2)
    assert os.path.exists(os.path.join(bpffs, "shared_counts"))      # the pin outlives the objects
    with bpf.load_object(path, pin_root=bpffs) as third:
        assert third.maps["shared_counts"][0] == 5
    os.unlink(os.path.join(bpffs, "shared_counts"))


def test_pin_by_name_refuses_a_different_map(tmp_path, bpffs):
    with bpf.HashMap(4, 8, 4) as other:
        other.pin(os.path.join(bpffs, "shared_counts"))
    with pytest.raises(ObjectError, match="type 2 here, 1 pinned.*max_entries 4 here, 4|type 2 here, 1 pinned"):
        bpf.load_object(build(tmp_path, PINNED), pin_root=bpffs)


def test_a_section_name_libbpf_does_not_know_needs_a_type(tmp_path):
    path = build(tmp_path, 'SEC("my_hook") int custom(struct xdp_md *ctx) { return XDP_TX; }')
    with pytest.raises(ObjectError, match="'my_hook' does not name a program type.*prog_type="):
        bpf.open_object(path)
    with bpf.load_object(path, prog_type="xdp") as obj:
        assert obj.programs["custom"].test_run(FRAME).action == bpf.XdpAction.TX
        assert obj.spec.programs["custom"].prog_type == k.BPF_PROG_TYPE_XDP


def test_tracing_sections_are_refused_by_name(tmp_path):
    path = build(tmp_path, 'SEC("fentry/do_unlinkat") int trace(void *ctx) { return 0; }')
    with pytest.raises(ObjectError, match="fentry programs need the BTF id of a kernel function"):
        bpf.open_object(path)


def test_co_re_relocations_are_refused(tmp_path):
    path = build(tmp_path, """
struct pair { int a; int b; } __attribute__((preserve_access_index));
SEC("xdp") int core(struct xdp_md *ctx) {
    struct pair *p = (void *)(long)ctx->data;
    if ((void *)(p + 1) > (void *)(long)ctx->data_end) return XDP_PASS;
    return p->b;
}""")
    with pytest.raises(ObjectError, match="CO-RE relocations"):
        bpf.open_object(path)


def test_an_extern_is_refused_by_name(tmp_path):
    path = build(tmp_path, """
extern int LINUX_KERNEL_VERSION __attribute__((section(".kconfig")));
SEC("xdp") int ext(struct xdp_md *ctx) { return LINUX_KERNEL_VERSION ? XDP_PASS : XDP_DROP; }""")
    with pytest.raises(ObjectError, match="extern|kconfig"):
        bpf.open_object(path)


def test_not_a_bpf_object(tmp_path):
    plain = tmp_path / "plain.o"
    plain.write_bytes(b"not an elf file at all")
    with pytest.raises(ObjectError, match="is not an ELF file"):
        bpf.open_object(str(plain))
    with pytest.raises(ObjectError, match="not ELF64 little-endian"):
        bpf.open_object(build(tmp_path, LINKED, "big", target="bpfeb"))
    host = tmp_path / "host.o"
    (tmp_path / "host.c").write_text("int f(void) { return 1; }\n")
    subprocess.run(["gcc", "-c", str(tmp_path / "host.c"), "-o", str(host)], check=True)
    with pytest.raises(ObjectError, match="not BPF"):
        bpf.open_object(str(host))


def test_object_bytes_given_to_load_are_recognised(tmp_path):
    with open(build(tmp_path, LINKED), "rb") as f:
        data = f.read()
    with pytest.raises(ConfigError, match="ELF object file, not instructions.*load_object"):
        bpf.load(data)
    with bpf.ObjectFile(data).load() as obj:
        assert obj.programs["first"].test_run(FRAME).action == bpf.XdpAction.PASS


def test_elf_parser_reads_sections_symbols_and_relocations(tmp_path):
    parsed = elf.ElfFile.open(build(tmp_path, GLOBALS))
    xdp = parsed.get("xdp")
    assert xdp is not None and xdp.executable
    names = {s.name for s in parsed.symbols_in(parsed.by_name[".rodata"].number)}
    assert names == {"cfg_action", "cfg_bytes"}
    relocated = {r.symbol.name for r in parsed.relocations(xdp.number)}
    assert {"counter", "zeroed", "cfg_action", "cfg_bytes"} <= relocated
    assert all(r.type == elf.R_BPF_64_64 for r in parsed.relocations(xdp.number))


def test_btf_round_trips_and_datasecs_get_their_sizes(tmp_path):
    parsed = elf.ElfFile.open(build(tmp_path, GLOBALS))
    raw = parsed.by_name[".BTF"].data
    types = btf.Btf.parse(raw)
    assert types.encode() == raw                    # nothing fixed yet: the same bytes
    spec = bpf.open_object(build(tmp_path, GLOBALS, "again"))
    assert spec.btf is not None
    sizes = {t.name: t.size_type for _, t in spec.btf.datasecs()}
    assert sizes[".rodata"] == parsed.by_name[".rodata"].size and sizes[".data"] == 8


def test_pyxsk_programs_carry_btf_and_the_xdp_attach_type(tmp_path):
    """libbpf loads XDP programs with expected_attach_type BPF_XDP, and since
    6.18 a prog array refuses programs whose attach type differs from its
    owner's: pyxsk's own programs must join a libbpf-loaded object's array."""
    path = build(tmp_path, """
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2); __type(key, __u32);
         __type(value, __u32); } jumps SEC(".maps");
SEC("xdp") int owner(struct xdp_md *ctx) { bpf_tail_call(ctx, &jumps, 0); return XDP_ABORTED; }""")
    tx = [asm.ALU64.MOV.imm(asm.R0, int(bpf.XdpAction.TX)), asm.JMP.EXIT()]
    with bpf.load_object(path) as obj, bpf.load(tx, name="pyxsk_tx") as mine:
        info = bpftool_json("prog", "show", "id", str(mine.info().id))
        assert info["btf_id"] > 0
        dump = bpftool_json("btf", "dump", "id", str(info["btf_id"]))
        assert any(t["kind"] == "FUNC" and t["name"] == "pyxsk_tx" for t in dump["types"])
        obj.maps["jumps"][0] = mine.fileno()
        assert obj.programs["owner"].test_run(FRAME).action == bpf.XdpAction.TX


def test_closing_an_object_closes_every_fd(tmp_path):
    path = build(tmp_path, GLOBALS)
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with bpf.load_object(path) as obj:
            assert len(obj.maps) == 3
    assert set(os.listdir("/proc/self/fd")) == before


def test_a_failed_load_closes_what_it_created(tmp_path):
    path = build(tmp_path, """
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32);
         __type(value, __u32); } some_map SEC(".maps");
SEC("xdp") int bad(struct xdp_md *ctx) {
    __u32 key = 0; __u32 *v = bpf_map_lookup_elem(&some_map, &key);
    return *v;                              /* no NULL check: the verifier refuses */
}""")
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(VerifierError) as e:
        bpf.load_object(path)
    assert "invalid mem access" in getattr(e.value, "log", "")
    assert set(os.listdir("/proc/self/fd")) == before


def test_version_and_license_sections(tmp_path):
    path = build(tmp_path, """
__u32 _version SEC("version") = 0x060c00;
SEC("socket") int sock(struct __sk_buff *skb) { return 0; }""")
    spec = bpf.open_object(path)
    assert spec.license == "GPL" and spec.kern_version == 0x060c00
    assert spec.programs["sock"].prog_type == k.BPF_PROG_TYPE_SOCKET_FILTER
    with spec.load() as obj:
        assert obj.programs["sock"].info().type == k.BPF_PROG_TYPE_SOCKET_FILTER


def test_a_static_function_in_a_program_section_is_a_program_too(tmp_path):
    """libbpf 1.x refuses the object ("program is static and not supported");
    pyxsk loads the static function as a program, and as a subprogram of
    the program that calls it."""
    path = build(tmp_path, """
SEC("xdp") static __noinline int hidden(struct xdp_md *ctx) { return ctx->rx_queue_index + XDP_DROP; }
SEC("xdp") int visible(struct xdp_md *ctx) { return hidden(ctx) + 1; }""")
    with bpf.load_object(path) as obj:
        assert obj.programs["hidden"].test_run(FRAME).action == bpf.XdpAction.DROP
        assert obj.programs["visible"].test_run(FRAME).action == bpf.XdpAction.PASS


def test_question_mark_sections_load_only_when_named(tmp_path):
    """libbpf's SEC("?xdp"): the program is known but not loaded unless asked."""
    path = build(tmp_path, """
SEC("?xdp") int optional(struct xdp_md *ctx) { return XDP_DROP; }
SEC("xdp") int always(struct xdp_md *ctx) { return XDP_PASS; }""")
    spec = bpf.open_object(path)
    assert spec.programs["optional"].autoload is False and spec.programs["always"].autoload
    assert spec.programs["optional"].prog_type == k.BPF_PROG_TYPE_XDP
    with spec.load() as obj:
        assert sorted(obj.programs) == ["always"]
    with bpf.load_object(path, programs=["optional"]) as obj:
        assert sorted(obj.programs) == ["optional"]
        assert obj.programs["optional"].test_run(FRAME).action == bpf.XdpAction.DROP
    with pytest.raises(ObjectError, match="no program 'nope'"):
        spec.load(programs=["nope"])
    with pytest.raises(TypeError, match="not one string"):
        spec.load(programs="optional")
