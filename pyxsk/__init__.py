"""pyxsk: Linux AF_XDP sockets from pure Python.

Everything goes through ctypes into libc: the AF_XDP socket and its rings
(:mod:`pyxsk.xsk`, :mod:`pyxsk.umem`, :mod:`pyxsk.ring`), eBPF assembly and
bpf(2) (:mod:`pyxsk.asm`, :mod:`pyxsk.bpf`, :mod:`pyxsk.programs`) and
rtnetlink (:mod:`pyxsk.netlink`, :mod:`pyxsk.link`).  Importing pyxsk loads
libc and nothing else happens until you ask.
"""

__version__ = "0.1.0"
