"""A user's program type-checks with concrete types: mypy --strict infers
XskSocket, Batch, memoryview frames, Prog and maps -- not Any -- through the
package's annotations and its py.typed marker."""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USER_PROGRAM = '''
import pyxsk
from pyxsk import bpf
from pyxsk.bpf import xdp
from pyxsk.net import link


def main() -> None:
    with pyxsk.XskSocket("veth1", 0) as xsk:
        reveal_type(xsk)
        batch = xsk.recv(64, timeout=1.0)
        reveal_type(batch)
        for frame in batch:
            reveal_type(frame)
        reveal_type(xsk.recv_bytes(8, 0))
        reveal_type(xsk.send([b"x" * 60]))
        reveal_type(xsk.statistics())
    with bpf.XskMap(max_entries=4) as xskmap:
        reveal_type(xskmap)
        with bpf.load(xdp.redirect_all(xskmap), name="t") as prog:
            reveal_type(prog)
            reveal_type(prog.test_run(bytes(60)))
            reveal_type(link.attach_xdp("veth1", prog.fd, mode="skb"))
    counters = bpf.ArrayMap(4, value_size=8)
    reveal_type(counters)
    counters.close()
'''

EXPECTED = [
    ("xsk", r"pyxsk\.xsksocket\.XskSocket"),
    ("batch", r"pyxsk\.frames\.Batch"),
    ("frame", r"builtins\.memoryview"),
    ("recv_bytes", r"builtins\.list\[builtins\.bytes\]"),
    ("send", r"builtins\.int"),
    ("statistics", r"XdpStatistics"),
    ("xskmap", r"pyxsk\.bpf\.maps\.XskMap"),
    ("prog", r"pyxsk\.bpf\.programs\.Prog"),
    ("test_run", r"TestRun"),
    ("attach_xdp", r"builtins\.str"),
    ("counters", r"pyxsk\.bpf\.maps\.ArrayMap\[builtins\.int\]"),
]


def _python_with_mypy():
    for python in (sys.executable, shutil.which("python3")):
        if python and subprocess.run([python, "-c", "import mypy"],
                                     capture_output=True).returncode == 0:
            return python
    pytest.skip("mypy is not installed (CI installs it: .ci/run)")


def test_a_user_program_gets_concrete_types(tmp_path):
    python = _python_with_mypy()
    program = tmp_path / "user_program.py"
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
    for (what, pattern), found in zip(EXPECTED, revealed):
        assert re.search(pattern, found), (what, found)
        assert "Any" not in found, (what, found)
