"""The kernel's user-space ABI, one module per UAPI header, names as the kernel spells them.

Only constants and ctypes structures live here: no behaviour.  Each module
says which header it follows; the tests compare every size, offset and value
with gcc on the installed headers and with the running kernel's BTF.
"""
