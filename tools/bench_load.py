#!/usr/bin/env python3
"""Load time of a large BPF object: pyxsk's loader against ``bpftool prog
loadall`` (libbpf), in the same run, alternating, repeated (medians).

    sudo python3 tools/bench_load.py                  # tests/bpf_src/large.c, 10 rounds
    sudo python3 tools/bench_load.py --rounds 20 --object other.o

Contenders, each timed as wall clock around one whole load and close:
  "bpftool"        ``bpftool prog loadall OBJ DIR pinmaps DIR/maps``: a fresh
                   process (exec, libbpf open, load, pin), its pins removed after;
  "pyxsk process"  a fresh ``python3 -c`` that imports pyxsk and calls
                   bpf.load_object(OBJ): the like-for-like comparison.  It runs
                   a copy of the package with its bytecode cached, as an
                   installed package runs (PYTHONDONTWRITEBYTECODE, if set
                   here, would make every import compile the sources);
  "pyxsk"          bpf.load_object(OBJ) in this process (imports done), closed.
Beside them, where a process's time goes: "python -c pass" (the interpreter
starting) and "import pyxsk" (a process that only imports pyxsk.bpf).
The target, at most 1.5x bpftool's median, is judged on both "pyxsk" (the
loader's own work) and "pyxsk process" (which no CPython process can meet
where "python -c pass" alone takes more than 1.5x bpftool).  Both pay the verifier, which is most of the time for a
large object; the rest is each loader's own work.  Needs root, clang (to
build the default object) and bpftool; pins go to a private bpffs.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from pyxsk import _libc, bpf  # noqa: E402  (the checkout's pyxsk, not an installed one)

SOURCE = os.path.join(REPO, "tests", "bpf_src", "large.c")
TARGET = 1.5                 # pyxsk process time / bpftool time, at most


def build(source, out_dir):
    """``clang -O2 -g -target bpf`` as tests/bpfobj.py builds the corpus."""
    triple = subprocess.run(["gcc", "-dumpmachine"], stdout=subprocess.PIPE, check=True,
                            universal_newlines=True).stdout.strip()
    out = os.path.join(out_dir, os.path.basename(source)[:-2] + ".o")
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/" + triple, "-c", source,
                    "-o", out], check=True)
    return out


def count_instructions(path):
    spec = bpf.open_object(path)
    return sum(p.insn_count for p in spec.programs.values()), len(spec.programs), \
        len([m for m in spec.maps.values() if m.kind != "data"]), len(spec.maps)


def time_bpftool(obj, pins):
    progs, maps = os.path.join(pins, "progs"), os.path.join(pins, "maps")
    start = time.perf_counter()
    subprocess.run(["bpftool", "prog", "loadall", obj, progs, "pinmaps", maps], check=True,
                   stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    for d in (progs, maps):                 # unpinned: the programs and maps go away
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    return elapsed


def child_env():
    """The environment of the timed processes: bytecode caches allowed."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def time_pyxsk_process(obj, python, where):
    code = "import sys; from pyxsk import bpf; bpf.load_object(sys.argv[1]).close()"
    start = time.perf_counter()
    subprocess.run([python, "-c", code, obj], check=True, cwd=where, env=child_env())
    return time.perf_counter() - start


def time_python(python, code, where):
    start = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, cwd=where, env=child_env())
    return time.perf_counter() - start


def time_pyxsk(obj):
    start = time.perf_counter()
    bpf.load_object(obj).close()
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--object", help="a built object (default: build tests/bpf_src/large.c)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--python", default=sys.executable, help="interpreter of the pyxsk process")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        p.error("needs root (bpf(2), mount)")
    if shutil.which("bpftool") is None:
        p.error("needs bpftool")
    with tempfile.TemporaryDirectory(prefix="pyxsk_bench_load_") as tmp:
        obj = args.object or build(SOURCE, tmp)
        pins = os.path.join(tmp, "bpffs")
        os.mkdir(pins)
        _libc.mount("bpf", pins, "bpf", 0, call="mount(bpf, %s)" % pins)
        try:
            where = os.path.join(tmp, "site")
            shutil.copytree(os.path.join(REPO, "pyxsk"), os.path.join(where, "pyxsk"))
            return run(obj, pins, args, where)
        finally:
            _libc.umount2(pins, _libc.MNT_DETACH, call="umount2(%s)" % pins)


def run(obj, pins, args, where):
    insns, progs, maps, all_maps = count_instructions(obj)
    print("%s: %d instructions in %d programs, %d maps (+%d global data)" % (
        os.path.basename(obj), insns, progs, maps, all_maps - maps))
    times = {"bpftool": [], "pyxsk process": [], "pyxsk": [], "python -c pass": [],
             "import pyxsk": []}
    time_pyxsk(obj)                                     # warm the page cache and imports
    time_pyxsk_process(obj, args.python, where)         # and write the copy's bytecode
    for _ in range(args.rounds):
        times["bpftool"].append(time_bpftool(obj, pins))
        times["pyxsk process"].append(time_pyxsk_process(obj, args.python, where))
        times["pyxsk"].append(time_pyxsk(obj))
        times["python -c pass"].append(time_python(args.python, "pass", where))
        times["import pyxsk"].append(time_python(args.python, "from pyxsk import bpf; bpf.load_object",
                                                 where))
    base = statistics.median(times["bpftool"])
    print("%-14s %10s %10s %8s" % ("", "median ms", "min ms", "ratio"))
    for name, values in times.items():
        med = statistics.median(values)
        print("%-14s %10.1f %10.1f %7.2fx" % (name, med * 1e3, min(values) * 1e3, med / base))
    for name in ("pyxsk", "pyxsk process"):
        ratio = statistics.median(times[name]) / base
        verdict = "meets" if ratio <= TARGET else "misses"
        print("%s / bpftool = %.2f: %s the target of %.1fx" % (name, ratio, verdict, TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
