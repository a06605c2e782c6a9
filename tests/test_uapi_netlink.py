"""Every constant and structure of the rtnetlink UAPI modules against two oracles:
gcc on the installed headers (6.1) and the running kernel's BTF (6.18).

A constant newer than the installed headers must be in BTF (as an enum
value); one that is a ``#define`` must be in the headers.  Either way each
constant meets at least one oracle, and every oracle that knows it agrees.
"""

import ctypes
import re
import shutil
import subprocess

import pytest

from kabi import assert_layout, gcc_layout, kernel_btf
from pyxsk.uapi import if_, if_addr, if_link, neighbour, netlink, rtnetlink, veth

# module -> the headers its names come from
MODULES = {
    netlink: ["sys/socket.h", "linux/netlink.h"],
    rtnetlink: ["linux/rtnetlink.h"],
    if_link: ["linux/if_link.h"],
    if_addr: ["linux/if_addr.h"],
    veth: ["linux/veth.h"],
    neighbour: ["linux/neighbour.h"],
    if_: ["linux/if.h"],
}

STRUCTS = {
    netlink: ["sockaddr_nl", "nlmsghdr", "nlmsgerr", "nlattr"],
    rtnetlink: ["ifinfomsg", "rtmsg"],
    if_addr: ["ifaddrmsg", "ifa_cacheinfo"],
    neighbour: ["ndmsg"],
}

# the C macro is ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER), an int; pyxsk keeps
# the 16 bits that matter for a u16 nla_type
U16_MASKED = {"NLA_TYPE_MASK"}

# enums pyxsk mirrors in full: every member the running kernel has must be here
COMPLETE_ENUMS = {
    if_link: ["IFLA_XDP_", "IFLA_INFO_"],
    veth: ["VETH_INFO_"],
    netlink: ["NLMSGERR_ATTR_"],
    if_addr: [re.compile(r"^IFA_(?!F_)")],
}


def constants(module):
    return {name: value for name, value in vars(module).items()
            if re.match(r"^[A-Z][A-Z0-9_]*$", name) and isinstance(value, int)}


def header_text(headers):
    """The headers as the compiler sees them: includes resolved, enums
    expanded, ``#define`` lines kept (-dD)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler on this machine: check against the headers skipped")
    source = "".join("#include <%s>\n" % h for h in headers)
    return subprocess.run([compiler, "-E", "-dD", "-x", "c", "-"], input=source,
                          capture_output=True, text=True, check=True).stdout


def in_headers(name, text):
    return re.search(r"\b%s\b" % re.escape(name), text) is not None


@pytest.mark.parametrize("module", list(MODULES), ids=lambda m: m.__name__)
def test_constants_match_gcc_and_btf(module):
    own = constants(module)
    assert own, module.__name__
    text = header_text(MODULES[module])
    known_to_headers = sorted(name for name in own if in_headers(name, text))
    from_gcc = gcc_layout(MODULES[module], consts=known_to_headers)["const"]
    btf = kernel_btf()
    for name, value in sorted(own.items()):
        seen = False
        if name in from_gcc:
            expected = from_gcc[name] & 0xFFFF if name in U16_MASKED else from_gcc[name]
            assert value == expected, "%s = %d, gcc says %d" % (name, value, expected)
            seen = True
        if name in btf.enums:
            assert value == btf.enums[name], "%s = %d, BTF says %d" % (name, value, btf.enums[name])
            seen = True
        assert seen, "%s: neither the installed headers nor the kernel's BTF know it" % name


@pytest.mark.parametrize("module", list(COMPLETE_ENUMS), ids=lambda m: m.__name__)
def test_whole_enums_are_mirrored(module):
    btf_names = kernel_btf().enums
    own = constants(module)
    for prefix in COMPLETE_ENUMS[module]:
        match = prefix.match if hasattr(prefix, "match") else (lambda n, p=prefix: n.startswith(p))
        kernel = {n for n in btf_names if match(n)}
        ours = {n for n in own if match(n)}
        assert kernel, "BTF has no %s" % prefix
        missing = kernel - ours
        assert not missing, "the running kernel has %s" % sorted(missing)


def test_top_level_link_attributes_are_complete():
    """Every IFLA_ value from IFLA_UNSPEC to the highest the kernel has."""
    btf = kernel_btf()
    top = [n for n in btf.enums if n.startswith("IFLA_")]
    first_nested = next(n for n in top[1:] if btf.enums[n] == 0)   # the next enum starts at 0
    kernel_top = top[:top.index(first_nested)]
    ours = constants(if_link)
    assert set(kernel_top) <= set(ours), sorted(set(kernel_top) - set(ours))


def _members(cls):
    return [field[0] for field in cls._fields_]


@pytest.mark.parametrize("module", list(STRUCTS), ids=lambda m: m.__name__)
def test_structures_match_gcc(module):
    names = STRUCTS[module]
    members = {}
    for name in names:
        cls = getattr(module, name)
        members["struct " + name] = _members(cls)
        for field in cls._fields_:
            if isinstance(field[1], type) and issubclass(field[1], ctypes.Structure):
                members["struct " + name] += ["%s.%s" % (field[0], m) for m in _members(field[1])]
    measured = gcc_layout(MODULES[module], structs=["struct " + n for n in names], members=members)
    for name in names:
        c_name = "struct " + name
        layout = {m: (measured["offsetof"][(c_name, m)], measured["memberof"][(c_name, m)])
                  for m in members[c_name]}
        assert_layout(getattr(module, name), measured["sizeof"][c_name], layout, "gcc")


@pytest.mark.parametrize("module", list(STRUCTS), ids=lambda m: m.__name__)
def test_structures_match_the_running_kernel(module):
    btf = kernel_btf()
    for name in STRUCTS[module]:
        size, layout = btf.layout(name)
        assert_layout(getattr(module, name), size, layout, "BTF")


def test_header_lengths_are_the_aligned_structure_sizes():
    assert netlink.NLMSG_HDRLEN == 16 == ctypes.sizeof(netlink.nlmsghdr)
    assert netlink.NLA_HDRLEN == 4 == ctypes.sizeof(netlink.nlattr)
    measured = gcc_layout(["linux/netlink.h"], consts=["NLMSG_HDRLEN", "NLA_HDRLEN"])["const"]
    assert measured == {"NLMSG_HDRLEN": netlink.NLMSG_HDRLEN, "NLA_HDRLEN": netlink.NLA_HDRLEN}
