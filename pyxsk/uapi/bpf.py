"""include/uapi/linux/bpf.h (and bpf_common.h): the bpf(2) interface.

Names are the kernel's.  ``union bpf_attr`` is one 168-byte union in 6.18 (144
in 6.1); each command reads only its own member, so this module declares the
members pyxsk uses as separate structures named ``bpf_attr_<command>``, each
laid out exactly as that member of the union (natural alignment: the
``__aligned_u64`` fields make ctypes' default layout the kernel's).  The
kernel accepts a shorter attr than its own union, and a longer one as long as
the bytes it does not know are zero, so each structure is passed with its own
``sizeof``.

The info structures (``bpf_prog_info``, ``bpf_map_info``, ``bpf_link_info``)
grew across kernels; BPF_OBJ_GET_INFO_BY_FD copies ``min(info_len, its own
size)`` bytes and reports the length it wrote, so the 6.18 layouts here work
on older kernels too (the fields they lack stay zero).

The enum values are those of the running kernel's BTF; the ``#define``s are
compared with gcc on the installed headers (tests/test_uapi_bpf.py).
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

_u8, _u16, _u32, _u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64
_s16, _s32 = ctypes.c_int16, ctypes.c_int32

# -- instruction encoding (bpf_common.h, bpf.h) --------------------------------

# instruction classes: code & 0x07
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07


# The fields of ``code`` are extracted as the kernel's macros do.
def BPF_CLASS(code: int) -> int:
    return code & 0x07


def BPF_SIZE(code: int) -> int:
    return code & 0x18


def BPF_MODE(code: int) -> int:
    return code & 0xe0


def BPF_OP(code: int) -> int:
    return code & 0xf0


def BPF_SRC(code: int) -> int:
    return code & 0x08


# load/store size: code & 0x18
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18

# load/store mode: code & 0xe0
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_LEN = 0x80
BPF_MSH = 0xa0
BPF_MEMSX = 0x80        # 6.6: sign-extending load (LDX only)
BPF_ATOMIC = 0xc0
BPF_XADD = 0xc0         # legacy name of BPF_ATOMIC

# ALU/JMP operation: code & 0xf0
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xa0
BPF_MOV = 0xb0
BPF_ARSH = 0xc0
BPF_END = 0xd0

BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_JNE = 0x50
BPF_JSGT = 0x60
BPF_JSGE = 0x70
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JLT = 0xa0
BPF_JLE = 0xb0
BPF_JSLT = 0xc0
BPF_JSLE = 0xd0

# operand source: code & 0x08
BPF_K = 0x00            # the immediate
BPF_X = 0x08            # the source register

# byte swap direction (BPF_ALU | BPF_END), in the source bit
BPF_TO_LE = 0x00
BPF_TO_BE = 0x08
BPF_FROM_LE = BPF_TO_LE
BPF_FROM_BE = BPF_TO_BE

# atomic operations, in the immediate of BPF_STX | BPF_ATOMIC
BPF_FETCH = 0x01
BPF_XCHG = 0xe0 | BPF_FETCH
BPF_CMPXCHG = 0xf0 | BPF_FETCH

# enum: registers R0..R10 (R10 is the read-only frame pointer)
BPF_REG_0 = 0
BPF_REG_1 = 1
BPF_REG_2 = 2
BPF_REG_3 = 3
BPF_REG_4 = 4
BPF_REG_5 = 5
BPF_REG_6 = 6
BPF_REG_7 = 7
BPF_REG_8 = 8
BPF_REG_9 = 9
BPF_REG_10 = 10
MAX_BPF_REG = 11

# src_reg of the two-slot BPF_LD | BPF_IMM | BPF_DW: what the immediate means
BPF_PSEUDO_MAP_FD = 1        # imm = map fd; the register gets the map
BPF_PSEUDO_MAP_VALUE = 2     # imm = map fd, second imm = offset into value 0
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
# src_reg of BPF_JMP | BPF_CALL
BPF_PSEUDO_CALL = 1          # bpf-to-bpf call, imm = pc-relative
BPF_PSEUDO_KFUNC_CALL = 2

BPF_OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8

# BPF_PROG_LOAD prog_flags
BPF_F_STRICT_ALIGNMENT = 1 << 0
BPF_F_ANY_ALIGNMENT = 1 << 1
BPF_F_TEST_RND_HI32 = 1 << 2
BPF_F_TEST_STATE_FREQ = 1 << 3
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5

# BPF_PROG_LOAD log_level (the kernel defines them in linux/bpf_verifier.h)
BPF_LOG_LEVEL1 = 1
BPF_LOG_LEVEL2 = 2
BPF_LOG_STATS = 4

# BPF_PROG_TEST_RUN flags
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1

# BPF_PROG_ATTACH / BPF_LINK_UPDATE flags
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2

# BPF_MAP_UPDATE_ELEM flags (anonymous enum)
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

# BPF_MAP_CREATE map_flags (anonymous enum)
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_STACK_BUILD_ID = 1 << 5
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_CLONE = 1 << 9
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12

# bpf_redirect_map() flags (anonymous enum); the low two bits of the flags
# argument are the action returned when the map slot is empty (5.3+)
BPF_F_INGRESS = 1 << 0
BPF_F_BROADCAST = 1 << 3
BPF_F_EXCLUDE_INGRESS = 1 << 4

# bpf_perf_event_output() flags (anonymous enum): the low 32 bits pick the
# perf event array slot (BPF_F_CURRENT_CPU: this CPU's), bits 32..51 say how
# many bytes of the context (the packet, for XDP) to append to the sample
BPF_F_INDEX_MASK = 0xffffffff
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK
BPF_F_CTXLEN_MASK = 0xfffff << 32

# bpf_ringbuf_output/submit/discard() flags (anonymous enum)
BPF_RB_NO_WAKEUP = 1 << 0
BPF_RB_FORCE_WAKEUP = 1 << 1

# bpf_ringbuf_query() flags (anonymous enum)
BPF_RB_AVAIL_DATA = 0
BPF_RB_RING_SIZE = 1
BPF_RB_CONS_POS = 2
BPF_RB_PROD_POS = 3

# a ring buffer record's 8-byte header (anonymous enum): a u32 length whose
# top bits say the record is still being written (BUSY) or was thrown away
# (DISCARD), then a u32 the kernel uses to find the map from the record
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8

# XDP_FLAGS_* (BPF_LINK_CREATE for BPF_XDP takes them too) live with their
# header, linux/if_link.h: pyxsk.uapi.if_link.

# enum xdp_action
XDP_ABORTED = 0
XDP_DROP = 1
XDP_PASS = 2
XDP_TX = 3
XDP_REDIRECT = 4

# enum bpf_cmd
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_OBJ_PIN = 6
BPF_OBJ_GET = 7
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_TEST_RUN = 10
BPF_PROG_RUN = 10
BPF_PROG_GET_NEXT_ID = 11
BPF_MAP_GET_NEXT_ID = 12
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16
BPF_RAW_TRACEPOINT_OPEN = 17
BPF_BTF_LOAD = 18
BPF_BTF_GET_FD_BY_ID = 19
BPF_TASK_FD_QUERY = 20
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21
BPF_MAP_FREEZE = 22
BPF_BTF_GET_NEXT_ID = 23
BPF_MAP_LOOKUP_BATCH = 24
BPF_MAP_LOOKUP_AND_DELETE_BATCH = 25
BPF_MAP_UPDATE_BATCH = 26
BPF_MAP_DELETE_BATCH = 27
BPF_LINK_CREATE = 28
BPF_LINK_UPDATE = 29
BPF_LINK_GET_FD_BY_ID = 30
BPF_LINK_GET_NEXT_ID = 31
BPF_ENABLE_STATS = 32
BPF_ITER_CREATE = 33
BPF_LINK_DETACH = 34
BPF_PROG_BIND_MAP = 35
BPF_TOKEN_CREATE = 36
BPF_PROG_STREAM_READ_BY_FD = 37

# enum bpf_map_type
BPF_MAP_TYPE_UNSPEC = 0
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_STACK_TRACE = 7
BPF_MAP_TYPE_CGROUP_ARRAY = 8
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_LPM_TRIE = 11
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13
BPF_MAP_TYPE_DEVMAP = 14
BPF_MAP_TYPE_SOCKMAP = 15
BPF_MAP_TYPE_CPUMAP = 16
BPF_MAP_TYPE_XSKMAP = 17
BPF_MAP_TYPE_SOCKHASH = 18
BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED = 19
BPF_MAP_TYPE_CGROUP_STORAGE = 19
BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED = 21
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21
BPF_MAP_TYPE_QUEUE = 22
BPF_MAP_TYPE_STACK = 23
BPF_MAP_TYPE_SK_STORAGE = 24
BPF_MAP_TYPE_DEVMAP_HASH = 25
BPF_MAP_TYPE_STRUCT_OPS = 26
BPF_MAP_TYPE_RINGBUF = 27
BPF_MAP_TYPE_INODE_STORAGE = 28
BPF_MAP_TYPE_TASK_STORAGE = 29
BPF_MAP_TYPE_BLOOM_FILTER = 30
BPF_MAP_TYPE_USER_RINGBUF = 31
BPF_MAP_TYPE_CGRP_STORAGE = 32
BPF_MAP_TYPE_ARENA = 33

# enum bpf_prog_type
BPF_PROG_TYPE_UNSPEC = 0
BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_PROG_TYPE_KPROBE = 2
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_PROG_TYPE_SCHED_ACT = 4
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_PROG_TYPE_XDP = 6
BPF_PROG_TYPE_PERF_EVENT = 7
BPF_PROG_TYPE_CGROUP_SKB = 8
BPF_PROG_TYPE_CGROUP_SOCK = 9
BPF_PROG_TYPE_LWT_IN = 10
BPF_PROG_TYPE_LWT_OUT = 11
BPF_PROG_TYPE_LWT_XMIT = 12
BPF_PROG_TYPE_SOCK_OPS = 13
BPF_PROG_TYPE_SK_SKB = 14
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_PROG_TYPE_SK_MSG = 16
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 18
BPF_PROG_TYPE_LWT_SEG6LOCAL = 19
BPF_PROG_TYPE_LIRC_MODE2 = 20
BPF_PROG_TYPE_SK_REUSEPORT = 21
BPF_PROG_TYPE_FLOW_DISSECTOR = 22
BPF_PROG_TYPE_CGROUP_SYSCTL = 23
BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE = 24
BPF_PROG_TYPE_CGROUP_SOCKOPT = 25
BPF_PROG_TYPE_TRACING = 26
BPF_PROG_TYPE_STRUCT_OPS = 27
BPF_PROG_TYPE_EXT = 28
BPF_PROG_TYPE_LSM = 29
BPF_PROG_TYPE_SK_LOOKUP = 30
BPF_PROG_TYPE_SYSCALL = 31
BPF_PROG_TYPE_NETFILTER = 32

# enum bpf_attach_type
BPF_CGROUP_INET_INGRESS = 0
BPF_CGROUP_INET_EGRESS = 1
BPF_CGROUP_INET_SOCK_CREATE = 2
BPF_CGROUP_SOCK_OPS = 3
BPF_SK_SKB_STREAM_PARSER = 4
BPF_SK_SKB_STREAM_VERDICT = 5
BPF_CGROUP_DEVICE = 6
BPF_SK_MSG_VERDICT = 7
BPF_CGROUP_INET4_BIND = 8
BPF_CGROUP_INET6_BIND = 9
BPF_CGROUP_INET4_CONNECT = 10
BPF_CGROUP_INET6_CONNECT = 11
BPF_CGROUP_INET4_POST_BIND = 12
BPF_CGROUP_INET6_POST_BIND = 13
BPF_CGROUP_UDP4_SENDMSG = 14
BPF_CGROUP_UDP6_SENDMSG = 15
BPF_LIRC_MODE2 = 16
BPF_FLOW_DISSECTOR = 17
BPF_CGROUP_SYSCTL = 18
BPF_CGROUP_UDP4_RECVMSG = 19
BPF_CGROUP_UDP6_RECVMSG = 20
BPF_CGROUP_GETSOCKOPT = 21
BPF_CGROUP_SETSOCKOPT = 22
BPF_TRACE_RAW_TP = 23
BPF_TRACE_FENTRY = 24
BPF_TRACE_FEXIT = 25
BPF_MODIFY_RETURN = 26
BPF_LSM_MAC = 27
BPF_TRACE_ITER = 28
BPF_CGROUP_INET4_GETPEERNAME = 29
BPF_CGROUP_INET6_GETPEERNAME = 30
BPF_CGROUP_INET4_GETSOCKNAME = 31
BPF_CGROUP_INET6_GETSOCKNAME = 32
BPF_XDP_DEVMAP = 33
BPF_CGROUP_INET_SOCK_RELEASE = 34
BPF_XDP_CPUMAP = 35
BPF_SK_LOOKUP = 36
BPF_XDP = 37
BPF_SK_SKB_VERDICT = 38
BPF_SK_REUSEPORT_SELECT = 39
BPF_SK_REUSEPORT_SELECT_OR_MIGRATE = 40
BPF_PERF_EVENT = 41
BPF_TRACE_KPROBE_MULTI = 42
BPF_LSM_CGROUP = 43
BPF_STRUCT_OPS = 44
BPF_NETFILTER = 45
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
BPF_TRACE_UPROBE_MULTI = 48
BPF_CGROUP_UNIX_CONNECT = 49
BPF_CGROUP_UNIX_SENDMSG = 50
BPF_CGROUP_UNIX_RECVMSG = 51
BPF_CGROUP_UNIX_GETPEERNAME = 52
BPF_CGROUP_UNIX_GETSOCKNAME = 53
BPF_NETKIT_PRIMARY = 54
BPF_NETKIT_PEER = 55
BPF_TRACE_KPROBE_SESSION = 56
BPF_TRACE_UPROBE_SESSION = 57

# enum bpf_link_type
BPF_LINK_TYPE_UNSPEC = 0
BPF_LINK_TYPE_RAW_TRACEPOINT = 1
BPF_LINK_TYPE_TRACING = 2
BPF_LINK_TYPE_CGROUP = 3
BPF_LINK_TYPE_ITER = 4
BPF_LINK_TYPE_NETNS = 5
BPF_LINK_TYPE_XDP = 6
BPF_LINK_TYPE_PERF_EVENT = 7
BPF_LINK_TYPE_KPROBE_MULTI = 8
BPF_LINK_TYPE_STRUCT_OPS = 9
BPF_LINK_TYPE_NETFILTER = 10
BPF_LINK_TYPE_TCX = 11
BPF_LINK_TYPE_UPROBE_MULTI = 12
BPF_LINK_TYPE_NETKIT = 13
BPF_LINK_TYPE_SOCKMAP = 14

# enum bpf_func_id: the helper functions, in id order (__BPF_FUNC_MAPPER)
BPF_FUNC_unspec = 0
BPF_FUNC_map_lookup_elem = 1
BPF_FUNC_map_update_elem = 2
BPF_FUNC_map_delete_elem = 3
BPF_FUNC_probe_read = 4
BPF_FUNC_ktime_get_ns = 5
BPF_FUNC_trace_printk = 6
BPF_FUNC_get_prandom_u32 = 7
BPF_FUNC_get_smp_processor_id = 8
BPF_FUNC_skb_store_bytes = 9
BPF_FUNC_l3_csum_replace = 10
BPF_FUNC_l4_csum_replace = 11
BPF_FUNC_tail_call = 12
BPF_FUNC_clone_redirect = 13
BPF_FUNC_get_current_pid_tgid = 14
BPF_FUNC_get_current_uid_gid = 15
BPF_FUNC_get_current_comm = 16
BPF_FUNC_get_cgroup_classid = 17
BPF_FUNC_skb_vlan_push = 18
BPF_FUNC_skb_vlan_pop = 19
BPF_FUNC_skb_get_tunnel_key = 20
BPF_FUNC_skb_set_tunnel_key = 21
BPF_FUNC_perf_event_read = 22
BPF_FUNC_redirect = 23
BPF_FUNC_get_route_realm = 24
BPF_FUNC_perf_event_output = 25
BPF_FUNC_skb_load_bytes = 26
BPF_FUNC_get_stackid = 27
BPF_FUNC_csum_diff = 28
BPF_FUNC_skb_get_tunnel_opt = 29
BPF_FUNC_skb_set_tunnel_opt = 30
BPF_FUNC_skb_change_proto = 31
BPF_FUNC_skb_change_type = 32
BPF_FUNC_skb_under_cgroup = 33
BPF_FUNC_get_hash_recalc = 34
BPF_FUNC_get_current_task = 35
BPF_FUNC_probe_write_user = 36
BPF_FUNC_current_task_under_cgroup = 37
BPF_FUNC_skb_change_tail = 38
BPF_FUNC_skb_pull_data = 39
BPF_FUNC_csum_update = 40
BPF_FUNC_set_hash_invalid = 41
BPF_FUNC_get_numa_node_id = 42
BPF_FUNC_skb_change_head = 43
BPF_FUNC_xdp_adjust_head = 44
BPF_FUNC_probe_read_str = 45
BPF_FUNC_get_socket_cookie = 46
BPF_FUNC_get_socket_uid = 47
BPF_FUNC_set_hash = 48
BPF_FUNC_setsockopt = 49
BPF_FUNC_skb_adjust_room = 50
BPF_FUNC_redirect_map = 51
BPF_FUNC_sk_redirect_map = 52
BPF_FUNC_sock_map_update = 53
BPF_FUNC_xdp_adjust_meta = 54
BPF_FUNC_perf_event_read_value = 55
BPF_FUNC_perf_prog_read_value = 56
BPF_FUNC_getsockopt = 57
BPF_FUNC_override_return = 58
BPF_FUNC_sock_ops_cb_flags_set = 59
BPF_FUNC_msg_redirect_map = 60
BPF_FUNC_msg_apply_bytes = 61
BPF_FUNC_msg_cork_bytes = 62
BPF_FUNC_msg_pull_data = 63
BPF_FUNC_bind = 64
BPF_FUNC_xdp_adjust_tail = 65
BPF_FUNC_skb_get_xfrm_state = 66
BPF_FUNC_get_stack = 67
BPF_FUNC_skb_load_bytes_relative = 68
BPF_FUNC_fib_lookup = 69
BPF_FUNC_sock_hash_update = 70
BPF_FUNC_msg_redirect_hash = 71
BPF_FUNC_sk_redirect_hash = 72
BPF_FUNC_lwt_push_encap = 73
BPF_FUNC_lwt_seg6_store_bytes = 74
BPF_FUNC_lwt_seg6_adjust_srh = 75
BPF_FUNC_lwt_seg6_action = 76
BPF_FUNC_rc_repeat = 77
BPF_FUNC_rc_keydown = 78
BPF_FUNC_skb_cgroup_id = 79
BPF_FUNC_get_current_cgroup_id = 80
BPF_FUNC_get_local_storage = 81
BPF_FUNC_sk_select_reuseport = 82
BPF_FUNC_skb_ancestor_cgroup_id = 83
BPF_FUNC_sk_lookup_tcp = 84
BPF_FUNC_sk_lookup_udp = 85
BPF_FUNC_sk_release = 86
BPF_FUNC_map_push_elem = 87
BPF_FUNC_map_pop_elem = 88
BPF_FUNC_map_peek_elem = 89
BPF_FUNC_msg_push_data = 90
BPF_FUNC_msg_pop_data = 91
BPF_FUNC_rc_pointer_rel = 92
BPF_FUNC_spin_lock = 93
BPF_FUNC_spin_unlock = 94
BPF_FUNC_sk_fullsock = 95
BPF_FUNC_tcp_sock = 96
BPF_FUNC_skb_ecn_set_ce = 97
BPF_FUNC_get_listener_sock = 98
BPF_FUNC_skc_lookup_tcp = 99
BPF_FUNC_tcp_check_syncookie = 100
BPF_FUNC_sysctl_get_name = 101
BPF_FUNC_sysctl_get_current_value = 102
BPF_FUNC_sysctl_get_new_value = 103
BPF_FUNC_sysctl_set_new_value = 104
BPF_FUNC_strtol = 105
BPF_FUNC_strtoul = 106
BPF_FUNC_sk_storage_get = 107
BPF_FUNC_sk_storage_delete = 108
BPF_FUNC_send_signal = 109
BPF_FUNC_tcp_gen_syncookie = 110
BPF_FUNC_skb_output = 111
BPF_FUNC_probe_read_user = 112
BPF_FUNC_probe_read_kernel = 113
BPF_FUNC_probe_read_user_str = 114
BPF_FUNC_probe_read_kernel_str = 115
BPF_FUNC_tcp_send_ack = 116
BPF_FUNC_send_signal_thread = 117
BPF_FUNC_jiffies64 = 118
BPF_FUNC_read_branch_records = 119
BPF_FUNC_get_ns_current_pid_tgid = 120
BPF_FUNC_xdp_output = 121
BPF_FUNC_get_netns_cookie = 122
BPF_FUNC_get_current_ancestor_cgroup_id = 123
BPF_FUNC_sk_assign = 124
BPF_FUNC_ktime_get_boot_ns = 125
BPF_FUNC_seq_printf = 126
BPF_FUNC_seq_write = 127
BPF_FUNC_sk_cgroup_id = 128
BPF_FUNC_sk_ancestor_cgroup_id = 129
BPF_FUNC_ringbuf_output = 130
BPF_FUNC_ringbuf_reserve = 131
BPF_FUNC_ringbuf_submit = 132
BPF_FUNC_ringbuf_discard = 133
BPF_FUNC_ringbuf_query = 134
BPF_FUNC_csum_level = 135
BPF_FUNC_skc_to_tcp6_sock = 136
BPF_FUNC_skc_to_tcp_sock = 137
BPF_FUNC_skc_to_tcp_timewait_sock = 138
BPF_FUNC_skc_to_tcp_request_sock = 139
BPF_FUNC_skc_to_udp6_sock = 140
BPF_FUNC_get_task_stack = 141
BPF_FUNC_load_hdr_opt = 142
BPF_FUNC_store_hdr_opt = 143
BPF_FUNC_reserve_hdr_opt = 144
BPF_FUNC_inode_storage_get = 145
BPF_FUNC_inode_storage_delete = 146
BPF_FUNC_d_path = 147
BPF_FUNC_copy_from_user = 148
BPF_FUNC_snprintf_btf = 149
BPF_FUNC_seq_printf_btf = 150
BPF_FUNC_skb_cgroup_classid = 151
BPF_FUNC_redirect_neigh = 152
BPF_FUNC_per_cpu_ptr = 153
BPF_FUNC_this_cpu_ptr = 154
BPF_FUNC_redirect_peer = 155
BPF_FUNC_task_storage_get = 156
BPF_FUNC_task_storage_delete = 157
BPF_FUNC_get_current_task_btf = 158
BPF_FUNC_bprm_opts_set = 159
BPF_FUNC_ktime_get_coarse_ns = 160
BPF_FUNC_ima_inode_hash = 161
BPF_FUNC_sock_from_file = 162
BPF_FUNC_check_mtu = 163
BPF_FUNC_for_each_map_elem = 164
BPF_FUNC_snprintf = 165
BPF_FUNC_sys_bpf = 166
BPF_FUNC_btf_find_by_name_kind = 167
BPF_FUNC_sys_close = 168
BPF_FUNC_timer_init = 169
BPF_FUNC_timer_set_callback = 170
BPF_FUNC_timer_start = 171
BPF_FUNC_timer_cancel = 172
BPF_FUNC_get_func_ip = 173
BPF_FUNC_get_attach_cookie = 174
BPF_FUNC_task_pt_regs = 175
BPF_FUNC_get_branch_snapshot = 176
BPF_FUNC_trace_vprintk = 177
BPF_FUNC_skc_to_unix_sock = 178
BPF_FUNC_kallsyms_lookup_name = 179
BPF_FUNC_find_vma = 180
BPF_FUNC_loop = 181
BPF_FUNC_strncmp = 182
BPF_FUNC_get_func_arg = 183
BPF_FUNC_get_func_ret = 184
BPF_FUNC_get_func_arg_cnt = 185
BPF_FUNC_get_retval = 186
BPF_FUNC_set_retval = 187
BPF_FUNC_xdp_get_buff_len = 188
BPF_FUNC_xdp_load_bytes = 189
BPF_FUNC_xdp_store_bytes = 190
BPF_FUNC_copy_from_user_task = 191
BPF_FUNC_skb_set_tstamp = 192
BPF_FUNC_ima_file_hash = 193
BPF_FUNC_kptr_xchg = 194
BPF_FUNC_map_lookup_percpu_elem = 195
BPF_FUNC_skc_to_mptcp_sock = 196
BPF_FUNC_dynptr_from_mem = 197
BPF_FUNC_ringbuf_reserve_dynptr = 198
BPF_FUNC_ringbuf_submit_dynptr = 199
BPF_FUNC_ringbuf_discard_dynptr = 200
BPF_FUNC_dynptr_read = 201
BPF_FUNC_dynptr_write = 202
BPF_FUNC_dynptr_data = 203
BPF_FUNC_tcp_raw_gen_syncookie_ipv4 = 204
BPF_FUNC_tcp_raw_gen_syncookie_ipv6 = 205
BPF_FUNC_tcp_raw_check_syncookie_ipv4 = 206
BPF_FUNC_tcp_raw_check_syncookie_ipv6 = 207
BPF_FUNC_ktime_get_tai_ns = 208
BPF_FUNC_user_ringbuf_drain = 209
BPF_FUNC_cgrp_storage_get = 210
BPF_FUNC_cgrp_storage_delete = 211

_HELPER_PREFIX = "BPF_FUNC_"

# helper id -> name as the kernel's disassembler prints it ("bpf_redirect_map")
HELPER_NAMES: typing.Dict[int, str] = {value: "bpf_" + name[len(_HELPER_PREFIX):]
                for name, value in list(globals().items()) if name.startswith(_HELPER_PREFIX)}


# -- structures ---------------------------------------------------------------

class bpf_insn(ctypes.Structure):
    """One 8-byte instruction.  dst_reg is the low nibble of byte 1 and
    src_reg the high one (little-endian bitfield order, as the kernel
    declares them on x86-64 and arm64)."""
    _fields_ = [
        ("code", _u8),
        ("dst_reg", _u8, 4),
        ("src_reg", _u8, 4),
        ("off", _s16),
        ("imm", _s32),
    ]
    code: Field[ctypes.c_uint8, int]
    dst_reg: Field[ctypes.c_uint8, int]
    src_reg: Field[ctypes.c_uint8, int]
    off: Field[ctypes.c_int16, int]
    imm: Field[ctypes.c_int32, int]


class xdp_md(ctypes.Structure):
    """The context an XDP program gets in R1 (offsets are what LDX reads)."""
    _fields_ = [
        ("data", _u32),
        ("data_end", _u32),
        ("data_meta", _u32),
        ("ingress_ifindex", _u32),
        ("rx_queue_index", _u32),
        ("egress_ifindex", _u32),
    ]
    data: Field[ctypes.c_uint32, int]
    data_end: Field[ctypes.c_uint32, int]
    data_meta: Field[ctypes.c_uint32, int]
    ingress_ifindex: Field[ctypes.c_uint32, int]
    rx_queue_index: Field[ctypes.c_uint32, int]
    egress_ifindex: Field[ctypes.c_uint32, int]


class bpf_attr_map_create(ctypes.Structure):
    """union bpf_attr, the anonymous member BPF_MAP_CREATE reads."""
    _fields_ = [
        ("map_type", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("inner_map_fd", _u32),
        ("numa_node", _u32),
        ("map_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("map_ifindex", _u32),
        ("btf_fd", _u32),
        ("btf_key_type_id", _u32),
        ("btf_value_type_id", _u32),
        ("btf_vmlinux_value_type_id", _u32),
        ("map_extra", _u64),
    ]
    map_type: Field[ctypes.c_uint32, int]
    key_size: Field[ctypes.c_uint32, int]
    value_size: Field[ctypes.c_uint32, int]
    max_entries: Field[ctypes.c_uint32, int]
    map_flags: Field[ctypes.c_uint32, int]
    inner_map_fd: Field[ctypes.c_uint32, int]
    numa_node: Field[ctypes.c_uint32, int]
    map_name: Field[ctypes.Array[ctypes.c_char], bytes]
    map_ifindex: Field[ctypes.c_uint32, int]
    btf_fd: Field[ctypes.c_uint32, int]
    btf_key_type_id: Field[ctypes.c_uint32, int]
    btf_value_type_id: Field[ctypes.c_uint32, int]
    btf_vmlinux_value_type_id: Field[ctypes.c_uint32, int]
    map_extra: Field[ctypes.c_uint64, int]


class _bpf_attr_map_elem_value(ctypes.Union):
    _fields_ = [("value", _u64), ("next_key", _u64)]
    value: Field[ctypes.c_uint64, int]
    next_key: Field[ctypes.c_uint64, int]


class bpf_attr_map_elem(ctypes.Structure):
    """union bpf_attr, the member BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM and
    BPF_MAP_GET_NEXT_KEY read: key, value and next_key are user addresses."""
    _anonymous_ = ("_u",)
    _fields_ = [
        ("map_fd", _u32),
        ("key", _u64),
        ("_u", _bpf_attr_map_elem_value),
        ("flags", _u64),
    ]
    map_fd: Field[ctypes.c_uint32, int]
    key: Field[ctypes.c_uint64, int]
    _u: Field[_bpf_attr_map_elem_value, _bpf_attr_map_elem_value]
    value: Field[ctypes.c_uint64, int]  # of the anonymous _u
    next_key: Field[ctypes.c_uint64, int]  # of the anonymous _u
    flags: Field[ctypes.c_uint64, int]


class bpf_attr_prog_load(ctypes.Structure):
    """union bpf_attr, the member BPF_PROG_LOAD reads (up to log_true_size,
    which 6.4+ fills with the log size the verifier needed)."""
    _fields_ = [
        ("prog_type", _u32),
        ("insn_cnt", _u32),
        ("insns", _u64),
        ("license", _u64),
        ("log_level", _u32),
        ("log_size", _u32),
        ("log_buf", _u64),
        ("kern_version", _u32),
        ("prog_flags", _u32),
        ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("prog_ifindex", _u32),
        ("expected_attach_type", _u32),
        ("prog_btf_fd", _u32),
        ("func_info_rec_size", _u32),
        ("func_info", _u64),
        ("func_info_cnt", _u32),
        ("line_info_rec_size", _u32),
        ("line_info", _u64),
        ("line_info_cnt", _u32),
        ("attach_btf_id", _u32),
        ("attach_prog_fd", _u32),
        ("core_relo_cnt", _u32),
        ("fd_array", _u64),
        ("core_relos", _u64),
        ("core_relo_rec_size", _u32),
        ("log_true_size", _u32),
    ]
    prog_type: Field[ctypes.c_uint32, int]
    insn_cnt: Field[ctypes.c_uint32, int]
    insns: Field[ctypes.c_uint64, int]
    license: Field[ctypes.c_uint64, int]
    log_level: Field[ctypes.c_uint32, int]
    log_size: Field[ctypes.c_uint32, int]
    log_buf: Field[ctypes.c_uint64, int]
    kern_version: Field[ctypes.c_uint32, int]
    prog_flags: Field[ctypes.c_uint32, int]
    prog_name: Field[ctypes.Array[ctypes.c_char], bytes]
    prog_ifindex: Field[ctypes.c_uint32, int]
    expected_attach_type: Field[ctypes.c_uint32, int]
    prog_btf_fd: Field[ctypes.c_uint32, int]
    func_info_rec_size: Field[ctypes.c_uint32, int]
    func_info: Field[ctypes.c_uint64, int]
    func_info_cnt: Field[ctypes.c_uint32, int]
    line_info_rec_size: Field[ctypes.c_uint32, int]
    line_info: Field[ctypes.c_uint64, int]
    line_info_cnt: Field[ctypes.c_uint32, int]
    attach_btf_id: Field[ctypes.c_uint32, int]
    attach_prog_fd: Field[ctypes.c_uint32, int]
    core_relo_cnt: Field[ctypes.c_uint32, int]
    fd_array: Field[ctypes.c_uint64, int]
    core_relos: Field[ctypes.c_uint64, int]
    core_relo_rec_size: Field[ctypes.c_uint32, int]
    log_true_size: Field[ctypes.c_uint32, int]


class bpf_attr_info(ctypes.Structure):
    """union bpf_attr, member ``info``: BPF_OBJ_GET_INFO_BY_FD."""
    _fields_ = [("bpf_fd", _u32), ("info_len", _u32), ("info", _u64)]
    bpf_fd: Field[ctypes.c_uint32, int]
    info_len: Field[ctypes.c_uint32, int]
    info: Field[ctypes.c_uint64, int]


class bpf_attr_obj(ctypes.Structure):
    """union bpf_attr, the anonymous member BPF_OBJ_PIN and BPF_OBJ_GET read:
    a bpffs path, the fd to pin (PIN) and BPF_F_RDONLY/BPF_F_WRONLY (GET)."""
    _fields_ = [("pathname", _u64), ("bpf_fd", _u32), ("file_flags", _u32), ("path_fd", ctypes.c_int32)]
    pathname: Field[ctypes.c_uint64, int]
    bpf_fd: Field[ctypes.c_uint32, int]
    file_flags: Field[ctypes.c_uint32, int]
    path_fd: Field[ctypes.c_int32, int]


class bpf_attr_prog_bind_map(ctypes.Structure):
    """union bpf_attr, member ``prog_bind_map``: BPF_PROG_BIND_MAP keeps a map
    alive with a program that does not use it in its code (5.10+)."""
    _fields_ = [("prog_fd", _u32), ("map_fd", _u32), ("flags", _u32)]
    prog_fd: Field[ctypes.c_uint32, int]
    map_fd: Field[ctypes.c_uint32, int]
    flags: Field[ctypes.c_uint32, int]


class bpf_attr_btf_load(ctypes.Structure):
    """union bpf_attr, the anonymous member BPF_BTF_LOAD reads: the raw BTF
    blob (header, types, strings) and the log the kernel fills on refusal."""
    _fields_ = [
        ("btf", _u64),
        ("btf_log_buf", _u64),
        ("btf_size", _u32),
        ("btf_log_size", _u32),
        ("btf_log_level", _u32),
        ("btf_log_true_size", _u32),
    ]
    btf: Field[ctypes.c_uint64, int]
    btf_log_buf: Field[ctypes.c_uint64, int]
    btf_size: Field[ctypes.c_uint32, int]
    btf_log_size: Field[ctypes.c_uint32, int]
    btf_log_level: Field[ctypes.c_uint32, int]
    btf_log_true_size: Field[ctypes.c_uint32, int]


class bpf_attr_test(ctypes.Structure):
    """union bpf_attr, member ``test``: BPF_PROG_TEST_RUN.  ``duration`` comes
    back as the mean run time in nanoseconds over ``repeat`` runs."""
    _fields_ = [
        ("prog_fd", _u32),
        ("retval", _u32),
        ("data_size_in", _u32),
        ("data_size_out", _u32),
        ("data_in", _u64),
        ("data_out", _u64),
        ("repeat", _u32),
        ("duration", _u32),
        ("ctx_size_in", _u32),
        ("ctx_size_out", _u32),
        ("ctx_in", _u64),
        ("ctx_out", _u64),
        ("flags", _u32),
        ("cpu", _u32),
        ("batch_size", _u32),
    ]
    prog_fd: Field[ctypes.c_uint32, int]
    retval: Field[ctypes.c_uint32, int]
    data_size_in: Field[ctypes.c_uint32, int]
    data_size_out: Field[ctypes.c_uint32, int]
    data_in: Field[ctypes.c_uint64, int]
    data_out: Field[ctypes.c_uint64, int]
    repeat: Field[ctypes.c_uint32, int]
    duration: Field[ctypes.c_uint32, int]
    ctx_size_in: Field[ctypes.c_uint32, int]
    ctx_size_out: Field[ctypes.c_uint32, int]
    ctx_in: Field[ctypes.c_uint64, int]
    ctx_out: Field[ctypes.c_uint64, int]
    flags: Field[ctypes.c_uint32, int]
    cpu: Field[ctypes.c_uint32, int]
    batch_size: Field[ctypes.c_uint32, int]


class _bpf_attr_get_id_start(ctypes.Union):
    _fields_ = [("start_id", _u32), ("prog_id", _u32), ("map_id", _u32),
                ("btf_id", _u32), ("link_id", _u32)]
    start_id: Field[ctypes.c_uint32, int]
    prog_id: Field[ctypes.c_uint32, int]
    map_id: Field[ctypes.c_uint32, int]
    btf_id: Field[ctypes.c_uint32, int]
    link_id: Field[ctypes.c_uint32, int]


class bpf_attr_get_id(ctypes.Structure):
    """union bpf_attr, the member BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID read."""
    _anonymous_ = ("_u",)
    _fields_ = [("_u", _bpf_attr_get_id_start), ("next_id", _u32), ("open_flags", _u32)]
    _u: Field[_bpf_attr_get_id_start, _bpf_attr_get_id_start]
    start_id: Field[ctypes.c_uint32, int]  # of the anonymous _u
    prog_id: Field[ctypes.c_uint32, int]  # of the anonymous _u
    map_id: Field[ctypes.c_uint32, int]  # of the anonymous _u
    btf_id: Field[ctypes.c_uint32, int]  # of the anonymous _u
    link_id: Field[ctypes.c_uint32, int]  # of the anonymous _u
    next_id: Field[ctypes.c_uint32, int]
    open_flags: Field[ctypes.c_uint32, int]


class _bpf_attr_link_target(ctypes.Union):
    _fields_ = [("target_fd", _u32), ("target_ifindex", _u32)]
    target_fd: Field[ctypes.c_uint32, int]
    target_ifindex: Field[ctypes.c_uint32, int]


class bpf_attr_link_create(ctypes.Structure):
    """union bpf_attr, member ``link_create``, as far as BPF_XDP uses it: an
    XDP link takes the interface index as its target and XDP_FLAGS_* modes."""
    _anonymous_ = ("_u",)
    _fields_ = [
        ("prog_fd", _u32),
        ("_u", _bpf_attr_link_target),
        ("attach_type", _u32),
        ("flags", _u32),
    ]
    prog_fd: Field[ctypes.c_uint32, int]
    _u: Field[_bpf_attr_link_target, _bpf_attr_link_target]
    target_fd: Field[ctypes.c_uint32, int]  # of the anonymous _u
    target_ifindex: Field[ctypes.c_uint32, int]  # of the anonymous _u
    attach_type: Field[ctypes.c_uint32, int]
    flags: Field[ctypes.c_uint32, int]


class bpf_attr_link_update(ctypes.Structure):
    """union bpf_attr, member ``link_update``: swap the program of a link."""
    _fields_ = [("link_fd", _u32), ("new_prog_fd", _u32), ("flags", _u32), ("old_prog_fd", _u32)]
    link_fd: Field[ctypes.c_uint32, int]
    new_prog_fd: Field[ctypes.c_uint32, int]
    flags: Field[ctypes.c_uint32, int]
    old_prog_fd: Field[ctypes.c_uint32, int]


class bpf_attr_link_detach(ctypes.Structure):
    """union bpf_attr, member ``link_detach``."""
    _fields_ = [("link_fd", _u32)]
    link_fd: Field[ctypes.c_uint32, int]


class bpf_prog_info(ctypes.Structure):
    _fields_ = [
        ("type", _u32),
        ("id", _u32),
        ("tag", _u8 * BPF_TAG_SIZE),
        ("jited_prog_len", _u32),
        ("xlated_prog_len", _u32),
        ("jited_prog_insns", _u64),
        ("xlated_prog_insns", _u64),
        ("load_time", _u64),          # ns since boot
        ("created_by_uid", _u32),
        ("nr_map_ids", _u32),
        ("map_ids", _u64),
        ("name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", _u32),
        ("gpl_compatible", _u32, 1),
        ("_gpl_compatible_pad", _u32, 31),
        ("netns_dev", _u64),
        ("netns_ino", _u64),
        ("nr_jited_ksyms", _u32),
        ("nr_jited_func_lens", _u32),
        ("jited_ksyms", _u64),
        ("jited_func_lens", _u64),
        ("btf_id", _u32),
        ("func_info_rec_size", _u32),
        ("func_info", _u64),
        ("nr_func_info", _u32),
        ("nr_line_info", _u32),
        ("line_info", _u64),
        ("jited_line_info", _u64),
        ("nr_jited_line_info", _u32),
        ("line_info_rec_size", _u32),
        ("jited_line_info_rec_size", _u32),
        ("nr_prog_tags", _u32),
        ("prog_tags", _u64),
        ("run_time_ns", _u64),
        ("run_cnt", _u64),
        ("recursion_misses", _u64),
        ("verified_insns", _u32),
        ("attach_btf_obj_id", _u32),
        ("attach_btf_id", _u32),
    ]
    type: Field[ctypes.c_uint32, int]
    id: Field[ctypes.c_uint32, int]
    tag: Field[ctypes.Array[ctypes.c_uint8], ctypes.Array[ctypes.c_uint8]]
    jited_prog_len: Field[ctypes.c_uint32, int]
    xlated_prog_len: Field[ctypes.c_uint32, int]
    jited_prog_insns: Field[ctypes.c_uint64, int]
    xlated_prog_insns: Field[ctypes.c_uint64, int]
    load_time: Field[ctypes.c_uint64, int]
    created_by_uid: Field[ctypes.c_uint32, int]
    nr_map_ids: Field[ctypes.c_uint32, int]
    map_ids: Field[ctypes.c_uint64, int]
    name: Field[ctypes.Array[ctypes.c_char], bytes]
    ifindex: Field[ctypes.c_uint32, int]
    gpl_compatible: Field[ctypes.c_uint32, int]
    _gpl_compatible_pad: Field[ctypes.c_uint32, int]
    netns_dev: Field[ctypes.c_uint64, int]
    netns_ino: Field[ctypes.c_uint64, int]
    nr_jited_ksyms: Field[ctypes.c_uint32, int]
    nr_jited_func_lens: Field[ctypes.c_uint32, int]
    jited_ksyms: Field[ctypes.c_uint64, int]
    jited_func_lens: Field[ctypes.c_uint64, int]
    btf_id: Field[ctypes.c_uint32, int]
    func_info_rec_size: Field[ctypes.c_uint32, int]
    func_info: Field[ctypes.c_uint64, int]
    nr_func_info: Field[ctypes.c_uint32, int]
    nr_line_info: Field[ctypes.c_uint32, int]
    line_info: Field[ctypes.c_uint64, int]
    jited_line_info: Field[ctypes.c_uint64, int]
    nr_jited_line_info: Field[ctypes.c_uint32, int]
    line_info_rec_size: Field[ctypes.c_uint32, int]
    jited_line_info_rec_size: Field[ctypes.c_uint32, int]
    nr_prog_tags: Field[ctypes.c_uint32, int]
    prog_tags: Field[ctypes.c_uint64, int]
    run_time_ns: Field[ctypes.c_uint64, int]
    run_cnt: Field[ctypes.c_uint64, int]
    recursion_misses: Field[ctypes.c_uint64, int]
    verified_insns: Field[ctypes.c_uint32, int]
    attach_btf_obj_id: Field[ctypes.c_uint32, int]
    attach_btf_id: Field[ctypes.c_uint32, int]


class bpf_func_info(ctypes.Structure):
    """struct bpf_func_info: the BTF FUNC of the function starting at insn_off
    (in instructions from the program's start)."""
    _fields_ = [("insn_off", _u32), ("type_id", _u32)]
    insn_off: Field[ctypes.c_uint32, int]
    type_id: Field[ctypes.c_uint32, int]


class bpf_line_info(ctypes.Structure):
    """struct bpf_line_info: the source line (string offsets into the BTF,
    line_col = line << 10 | column) of the instruction at insn_off."""
    _fields_ = [("insn_off", _u32), ("file_name_off", _u32), ("line_off", _u32), ("line_col", _u32)]
    insn_off: Field[ctypes.c_uint32, int]
    file_name_off: Field[ctypes.c_uint32, int]
    line_off: Field[ctypes.c_uint32, int]
    line_col: Field[ctypes.c_uint32, int]


class bpf_btf_info(ctypes.Structure):
    """struct bpf_btf_info: BPF_OBJ_GET_INFO_BY_FD's answer for a BTF object."""
    _fields_ = [("btf", _u64), ("btf_size", _u32), ("id", _u32), ("name", _u64), ("name_len", _u32),
                ("kernel_btf", _u32)]
    btf: Field[ctypes.c_uint64, int]
    btf_size: Field[ctypes.c_uint32, int]
    id: Field[ctypes.c_uint32, int]
    name: Field[ctypes.c_uint64, int]
    name_len: Field[ctypes.c_uint32, int]
    kernel_btf: Field[ctypes.c_uint32, int]


class bpf_map_info(ctypes.Structure):
    _fields_ = [
        ("type", _u32),
        ("id", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", _u32),
        ("btf_vmlinux_value_type_id", _u32),
        ("netns_dev", _u64),
        ("netns_ino", _u64),
        ("btf_id", _u32),
        ("btf_key_type_id", _u32),
        ("btf_value_type_id", _u32),
        ("btf_vmlinux_id", _u32),     # 6.7
        ("map_extra", _u64),
        ("hash", _u64),               # 6.18
        ("hash_size", _u32),          # 6.18
    ]
    type: Field[ctypes.c_uint32, int]
    id: Field[ctypes.c_uint32, int]
    key_size: Field[ctypes.c_uint32, int]
    value_size: Field[ctypes.c_uint32, int]
    max_entries: Field[ctypes.c_uint32, int]
    map_flags: Field[ctypes.c_uint32, int]
    name: Field[ctypes.Array[ctypes.c_char], bytes]
    ifindex: Field[ctypes.c_uint32, int]
    btf_vmlinux_value_type_id: Field[ctypes.c_uint32, int]
    netns_dev: Field[ctypes.c_uint64, int]
    netns_ino: Field[ctypes.c_uint64, int]
    btf_id: Field[ctypes.c_uint32, int]
    btf_key_type_id: Field[ctypes.c_uint32, int]
    btf_value_type_id: Field[ctypes.c_uint32, int]
    btf_vmlinux_id: Field[ctypes.c_uint32, int]
    map_extra: Field[ctypes.c_uint64, int]
    hash: Field[ctypes.c_uint64, int]
    hash_size: Field[ctypes.c_uint32, int]


class bpf_lpm_trie_key(ctypes.Structure):
    """The head of an LPM_TRIE key: the prefix length in bits, then the
    ``key_size - 4`` data bytes (``data[]``, a flexible array) it applies to.
    6.8 renamed it bpf_lpm_trie_key_u8 (same layout, the old name kept)."""
    _fields_ = [("prefixlen", _u32), ("data", _u8 * 0)]
    prefixlen: Field[ctypes.c_uint32, int]
    data: Field[ctypes.Array[ctypes.c_uint8], ctypes.Array[ctypes.c_uint8]]


class _bpf_map_val_prog(ctypes.Union):
    """The program of a DEVMAP or CPUMAP slot: an fd on write, its id on read."""
    _fields_ = [("fd", ctypes.c_int32), ("id", _u32)]
    fd: Field[ctypes.c_int32, int]
    id: Field[ctypes.c_uint32, int]


class bpf_devmap_val(ctypes.Structure):
    """A DEVMAP/DEVMAP_HASH value of 8 bytes: the interface to redirect to and
    an XDP program (expected_attach_type BPF_XDP_DEVMAP) run before it sends;
    a 4-byte value is ``ifindex`` alone."""
    _fields_ = [("ifindex", _u32), ("bpf_prog", _bpf_map_val_prog)]
    ifindex: Field[ctypes.c_uint32, int]
    bpf_prog: Field[_bpf_map_val_prog, _bpf_map_val_prog]


class bpf_cpumap_val(ctypes.Structure):
    """A CPUMAP value of 8 bytes: the queue size towards that CPU (0 empties
    the slot) and an XDP program (expected_attach_type BPF_XDP_CPUMAP) run
    there; a 4-byte value is ``qsize`` alone."""
    _fields_ = [("qsize", _u32), ("bpf_prog", _bpf_map_val_prog)]
    qsize: Field[ctypes.c_uint32, int]
    bpf_prog: Field[_bpf_map_val_prog, _bpf_map_val_prog]


class _bpf_link_info_xdp(ctypes.Structure):
    _fields_ = [("ifindex", _u32)]
    ifindex: Field[ctypes.c_uint32, int]


class _bpf_link_info_netns(ctypes.Structure):
    _fields_ = [("netns_ino", _u32), ("attach_type", _u32)]
    netns_ino: Field[ctypes.c_uint32, int]
    attach_type: Field[ctypes.c_uint32, int]


# the per-type union: 48 bytes (perf_event, uprobe_multi) in 6.18, 8-byte aligned
_LINK_INFO_UNION_SIZE = 48
_U64_SIZE = ctypes.sizeof(_u64)


class _bpf_link_info_union(ctypes.Union):
    _fields_ = [
        ("xdp", _bpf_link_info_xdp),
        ("netns", _bpf_link_info_netns),
        ("_raw", _u64 * (_LINK_INFO_UNION_SIZE // _U64_SIZE)),
    ]
    xdp: Field[_bpf_link_info_xdp, _bpf_link_info_xdp]
    netns: Field[_bpf_link_info_netns, _bpf_link_info_netns]
    _raw: Field[ctypes.Array[ctypes.c_uint64], ctypes.Array[ctypes.c_uint64]]


class bpf_link_info(ctypes.Structure):
    """The common head and, of the per-type union, the XDP and netns parts."""
    _anonymous_ = ("_u",)
    _fields_ = [
        ("type", _u32),
        ("id", _u32),
        ("prog_id", _u32),
        ("_u", _bpf_link_info_union),
    ]
    type: Field[ctypes.c_uint32, int]
    id: Field[ctypes.c_uint32, int]
    prog_id: Field[ctypes.c_uint32, int]
    _u: Field[_bpf_link_info_union, _bpf_link_info_union]
    xdp: Field[_bpf_link_info_xdp, _bpf_link_info_xdp]  # of the anonymous _u
    netns: Field[_bpf_link_info_netns, _bpf_link_info_netns]  # of the anonymous _u
    _raw: Field[ctypes.Array[ctypes.c_uint64], ctypes.Array[ctypes.c_uint64]]  # of the anonymous _u
