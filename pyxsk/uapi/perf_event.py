"""include/uapi/linux/perf_event.h: perf_event_open(2) and its ring buffer.

Names are the kernel's.  pyxsk uses perf events for one thing: the
BPF_OUTPUT software event that ``bpf_perf_event_output()`` writes samples
into, one per CPU, read through the mmap'ed ring (``perf_event_mmap_page``
followed by a power-of-two number of data pages holding records that each
begin with a ``perf_event_header``).

``perf_event_attr`` is declared as 6.18 has it (136 bytes, PERF_ATTR_SIZE_VER8).
The kernel reads ``min(attr.size, its own size)`` bytes and requires any
bytes beyond its own size to be zero, so the full structure works on older
kernels as long as the newer fields stay zero.  Its flag bits are the
kernel's bitfields (ctypes places them as gcc does; the tests check every
bit against gcc and the kernel's BTF).  The union members ``aux_action`` and
``capabilities`` are declared without their bit names.

The enum values are those of the running kernel's BTF; the ``#define``s are
compared with gcc on the installed headers (tests/test_uapi_perf_event.py).
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

_u16, _u32, _u64, _s32, _s64 = ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32, \
    ctypes.c_int64

# enum perf_type_id
PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_TYPE_HW_CACHE = 3
PERF_TYPE_RAW = 4
PERF_TYPE_BREAKPOINT = 5

# enum perf_sw_ids
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_PAGE_FAULTS = 2
PERF_COUNT_SW_CONTEXT_SWITCHES = 3
PERF_COUNT_SW_CPU_MIGRATIONS = 4
PERF_COUNT_SW_PAGE_FAULTS_MIN = 5
PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6
PERF_COUNT_SW_ALIGNMENT_FAULTS = 7
PERF_COUNT_SW_EMULATION_FAULTS = 8
PERF_COUNT_SW_DUMMY = 9
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_COUNT_SW_CGROUP_SWITCHES = 11

# enum perf_event_sample_format: what a PERF_RECORD_SAMPLE carries, in this order
PERF_SAMPLE_IP = 1 << 0
PERF_SAMPLE_TID = 1 << 1
PERF_SAMPLE_TIME = 1 << 2
PERF_SAMPLE_ADDR = 1 << 3
PERF_SAMPLE_READ = 1 << 4
PERF_SAMPLE_CALLCHAIN = 1 << 5
PERF_SAMPLE_ID = 1 << 6
PERF_SAMPLE_CPU = 1 << 7
PERF_SAMPLE_PERIOD = 1 << 8
PERF_SAMPLE_STREAM_ID = 1 << 9
PERF_SAMPLE_RAW = 1 << 10

# enum perf_event_type: perf_event_header.type
PERF_RECORD_MMAP = 1
PERF_RECORD_LOST = 2
PERF_RECORD_COMM = 3
PERF_RECORD_EXIT = 4
PERF_RECORD_THROTTLE = 5
PERF_RECORD_UNTHROTTLE = 6
PERF_RECORD_FORK = 7
PERF_RECORD_READ = 8
PERF_RECORD_SAMPLE = 9
PERF_RECORD_MMAP2 = 10
PERF_RECORD_AUX = 11
PERF_RECORD_ITRACE_START = 12
PERF_RECORD_LOST_SAMPLES = 13
PERF_RECORD_SWITCH = 14

# perf_event_open(2) flags
PERF_FLAG_FD_NO_GROUP = 1 << 0
PERF_FLAG_FD_OUTPUT = 1 << 1
PERF_FLAG_PID_CGROUP = 1 << 2
PERF_FLAG_FD_CLOEXEC = 1 << 3

# ioctls: _IO('$', nr) in the asm-generic encoding (x86, arm64, riscv, loongarch;
# _IOC_NONE is 0 there)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_REFRESH = 0x2402
PERF_EVENT_IOC_RESET = 0x2403

# perf_event_attr.size of each published version
PERF_ATTR_SIZE_VER0 = 64
PERF_ATTR_SIZE_VER1 = 72
PERF_ATTR_SIZE_VER2 = 80
PERF_ATTR_SIZE_VER3 = 96
PERF_ATTR_SIZE_VER4 = 104
PERF_ATTR_SIZE_VER5 = 112
PERF_ATTR_SIZE_VER6 = 120
PERF_ATTR_SIZE_VER7 = 128
PERF_ATTR_SIZE_VER8 = 136


class _sample_period_freq(ctypes.Union):
    _fields_ = [("sample_period", _u64), ("sample_freq", _u64)]
    sample_period: Field[ctypes.c_uint64, int]
    sample_freq: Field[ctypes.c_uint64, int]


class _wakeup(ctypes.Union):
    _fields_ = [("wakeup_events", _u32), ("wakeup_watermark", _u32)]
    wakeup_events: Field[ctypes.c_uint32, int]
    wakeup_watermark: Field[ctypes.c_uint32, int]


class _config1(ctypes.Union):
    _fields_ = [("bp_addr", _u64), ("kprobe_func", _u64), ("uprobe_path", _u64), ("config1", _u64)]
    bp_addr: Field[ctypes.c_uint64, int]
    kprobe_func: Field[ctypes.c_uint64, int]
    uprobe_path: Field[ctypes.c_uint64, int]
    config1: Field[ctypes.c_uint64, int]


class _config2(ctypes.Union):
    _fields_ = [("bp_len", _u64), ("kprobe_addr", _u64), ("probe_offset", _u64), ("config2", _u64)]
    bp_len: Field[ctypes.c_uint64, int]
    kprobe_addr: Field[ctypes.c_uint64, int]
    probe_offset: Field[ctypes.c_uint64, int]
    config2: Field[ctypes.c_uint64, int]


# the single-bit flags after read_format, lowest bit first; precise_ip is 2 bits
ATTR_FLAG_BITS = (
    ("disabled", 1), ("inherit", 1), ("pinned", 1), ("exclusive", 1), ("exclude_user", 1),
    ("exclude_kernel", 1), ("exclude_hv", 1), ("exclude_idle", 1), ("mmap", 1), ("comm", 1),
    ("freq", 1), ("inherit_stat", 1), ("enable_on_exec", 1), ("task", 1), ("watermark", 1),
    ("precise_ip", 2), ("mmap_data", 1), ("sample_id_all", 1), ("exclude_host", 1),
    ("exclude_guest", 1), ("exclude_callchain_kernel", 1), ("exclude_callchain_user", 1),
    ("mmap2", 1), ("comm_exec", 1), ("use_clockid", 1), ("context_switch", 1),
    ("write_backward", 1), ("namespaces", 1), ("ksymbol", 1), ("bpf_event", 1), ("aux_output", 1),
    ("cgroup", 1), ("text_poke", 1), ("build_id", 1), ("inherit_thread", 1), ("remove_on_exec", 1),
    ("sigtrap", 1), ("__reserved_1", 26),
)


class perf_event_attr(ctypes.Structure):
    """What perf_event_open(2) opens: the event (``type``, ``config``),
    what each sample holds (``sample_type``), and when the reader is woken
    (``wakeup_events`` samples, or ``wakeup_watermark`` bytes when the
    ``watermark`` bit is set)."""
    _anonymous_ = ("_period", "_wakeup", "_config1", "_config2")
    _fields_ = [
        ("type", _u32),
        ("size", _u32),
        ("config", _u64),
        ("_period", _sample_period_freq),
        ("sample_type", _u64),
        ("read_format", _u64),
    ] + [(name, _u64, bits) for name, bits in ATTR_FLAG_BITS] + [
        ("_wakeup", _wakeup),
        ("bp_type", _u32),
        ("_config1", _config1),
        ("_config2", _config2),
        ("branch_sample_type", _u64),
        ("sample_regs_user", _u64),
        ("sample_stack_user", _u32),
        ("clockid", _s32),
        ("sample_regs_intr", _u64),
        ("aux_watermark", _u32),
        ("sample_max_stack", _u16),
        ("__reserved_2", _u16),
        ("aux_sample_size", _u32),
        ("aux_action", _u32),              # 6.13; __reserved_3 before
        ("sig_data", _u64),
        ("config3", _u64),                 # 6.3
    ]
    type: Field[ctypes.c_uint32, int]
    size: Field[ctypes.c_uint32, int]
    config: Field[ctypes.c_uint64, int]
    _period: Field[_sample_period_freq, _sample_period_freq]
    sample_period: Field[ctypes.c_uint64, int]
    sample_freq: Field[ctypes.c_uint64, int]
    sample_type: Field[ctypes.c_uint64, int]
    read_format: Field[ctypes.c_uint64, int]
    disabled: Field[ctypes.c_uint64, int]
    inherit: Field[ctypes.c_uint64, int]
    pinned: Field[ctypes.c_uint64, int]
    exclusive: Field[ctypes.c_uint64, int]
    exclude_user: Field[ctypes.c_uint64, int]
    exclude_kernel: Field[ctypes.c_uint64, int]
    exclude_hv: Field[ctypes.c_uint64, int]
    exclude_idle: Field[ctypes.c_uint64, int]
    mmap: Field[ctypes.c_uint64, int]
    comm: Field[ctypes.c_uint64, int]
    freq: Field[ctypes.c_uint64, int]
    inherit_stat: Field[ctypes.c_uint64, int]
    enable_on_exec: Field[ctypes.c_uint64, int]
    task: Field[ctypes.c_uint64, int]
    watermark: Field[ctypes.c_uint64, int]
    precise_ip: Field[ctypes.c_uint64, int]
    mmap_data: Field[ctypes.c_uint64, int]
    sample_id_all: Field[ctypes.c_uint64, int]
    exclude_host: Field[ctypes.c_uint64, int]
    exclude_guest: Field[ctypes.c_uint64, int]
    exclude_callchain_kernel: Field[ctypes.c_uint64, int]
    exclude_callchain_user: Field[ctypes.c_uint64, int]
    mmap2: Field[ctypes.c_uint64, int]
    comm_exec: Field[ctypes.c_uint64, int]
    use_clockid: Field[ctypes.c_uint64, int]
    context_switch: Field[ctypes.c_uint64, int]
    write_backward: Field[ctypes.c_uint64, int]
    namespaces: Field[ctypes.c_uint64, int]
    ksymbol: Field[ctypes.c_uint64, int]
    bpf_event: Field[ctypes.c_uint64, int]
    aux_output: Field[ctypes.c_uint64, int]
    cgroup: Field[ctypes.c_uint64, int]
    text_poke: Field[ctypes.c_uint64, int]
    build_id: Field[ctypes.c_uint64, int]
    inherit_thread: Field[ctypes.c_uint64, int]
    remove_on_exec: Field[ctypes.c_uint64, int]
    sigtrap: Field[ctypes.c_uint64, int]
    _wakeup: Field[_wakeup, _wakeup]
    wakeup_events: Field[ctypes.c_uint32, int]
    wakeup_watermark: Field[ctypes.c_uint32, int]
    bp_type: Field[ctypes.c_uint32, int]
    _config1: Field[_config1, _config1]
    bp_addr: Field[ctypes.c_uint64, int]
    kprobe_func: Field[ctypes.c_uint64, int]
    uprobe_path: Field[ctypes.c_uint64, int]
    config1: Field[ctypes.c_uint64, int]
    _config2: Field[_config2, _config2]
    bp_len: Field[ctypes.c_uint64, int]
    kprobe_addr: Field[ctypes.c_uint64, int]
    probe_offset: Field[ctypes.c_uint64, int]
    config2: Field[ctypes.c_uint64, int]
    branch_sample_type: Field[ctypes.c_uint64, int]
    sample_regs_user: Field[ctypes.c_uint64, int]
    sample_stack_user: Field[ctypes.c_uint32, int]
    clockid: Field[ctypes.c_int32, int]
    sample_regs_intr: Field[ctypes.c_uint64, int]
    aux_watermark: Field[ctypes.c_uint32, int]
    sample_max_stack: Field[ctypes.c_uint16, int]
    aux_sample_size: Field[ctypes.c_uint32, int]
    aux_action: Field[ctypes.c_uint32, int]
    sig_data: Field[ctypes.c_uint64, int]
    config3: Field[ctypes.c_uint64, int]


class perf_event_mmap_page(ctypes.Structure):
    """The first page of a perf event's mapping: the kernel's ``data_head``
    (where it will write next) and the reader's ``data_tail`` (what it has
    consumed), both free-running byte counts; the records are in the
    ``data_size`` bytes from ``data_offset`` (on kernels before 4.1, which
    leave both zero, in the pages right after this one)."""
    _fields_ = [
        ("version", _u32),
        ("compat_version", _u32),
        ("lock", _u32),
        ("index", _u32),
        ("offset", _s64),
        ("time_enabled", _u64),
        ("time_running", _u64),
        ("capabilities", _u64),
        ("pmc_width", _u16),
        ("time_shift", _u16),
        ("time_mult", _u32),
        ("time_offset", _u64),
        ("time_zero", _u64),
        ("size", _u32),
        ("__reserved_1", _u32),
        ("time_cycles", _u64),
        ("time_mask", _u64),
        ("__reserved", ctypes.c_uint8 * 928),
        ("data_head", _u64),
        ("data_tail", _u64),
        ("data_offset", _u64),
        ("data_size", _u64),
        ("aux_head", _u64),
        ("aux_tail", _u64),
        ("aux_offset", _u64),
        ("aux_size", _u64),
    ]
    version: Field[ctypes.c_uint32, int]
    compat_version: Field[ctypes.c_uint32, int]
    lock: Field[ctypes.c_uint32, int]
    index: Field[ctypes.c_uint32, int]
    offset: Field[ctypes.c_int64, int]
    time_enabled: Field[ctypes.c_uint64, int]
    time_running: Field[ctypes.c_uint64, int]
    capabilities: Field[ctypes.c_uint64, int]
    pmc_width: Field[ctypes.c_uint16, int]
    time_shift: Field[ctypes.c_uint16, int]
    time_mult: Field[ctypes.c_uint32, int]
    time_offset: Field[ctypes.c_uint64, int]
    time_zero: Field[ctypes.c_uint64, int]
    size: Field[ctypes.c_uint32, int]
    time_cycles: Field[ctypes.c_uint64, int]
    time_mask: Field[ctypes.c_uint64, int]
    data_head: Field[ctypes.c_uint64, int]
    data_tail: Field[ctypes.c_uint64, int]
    data_offset: Field[ctypes.c_uint64, int]
    data_size: Field[ctypes.c_uint64, int]
    aux_head: Field[ctypes.c_uint64, int]
    aux_tail: Field[ctypes.c_uint64, int]
    aux_offset: Field[ctypes.c_uint64, int]
    aux_size: Field[ctypes.c_uint64, int]


class perf_event_header(ctypes.Structure):
    """The start of every record in the ring: its ``type`` (PERF_RECORD_*),
    ``misc`` flags and ``size`` in bytes, header included (a multiple of 8)."""
    _fields_ = [("type", _u32), ("misc", _u16), ("size", _u16)]
    type: Field[ctypes.c_uint32, int]
    misc: Field[ctypes.c_uint16, int]
    size: Field[ctypes.c_uint16, int]
