"""tools/bench.py's bookkeeping: who runs how, and how ratios are judged.
(The benchmark itself runs by hand: speed is never asserted in tests.)"""

import argparse
import importlib.util
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "tools", "bench.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("pyxsk_tools_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def args(**kw):
    base = dict(seconds=5.0, warmup=1.0, size=64, batch=1024, python=sys.executable)
    base.update(kw)
    return argparse.Namespace(**base)


def test_help_runs_without_root():
    out = subprocess.run([sys.executable, BENCH, "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "C batch" in out.stdout and "SCHED_BATCH" in out.stdout


def test_ratios_are_judged_on_the_median_of_the_rounds(bench, capsys):
    rates = {"pyxsk": [90.0, 50.0, 100.0], "C xskbench": [100.0, 100.0, 100.0],
             "AF_PACKET": [10.0, 10.0, 10.0]}
    med, lines = bench.report("rxdrop", rates, [("pyxsk", "C xskbench", 0.95),
                                                ("pyxsk", "AF_PACKET", 5.0),
                                                ("AF_PACKET", "pyxsk", None)], args(repeat=3))
    assert med == {"pyxsk": 90.0, "C xskbench": 100.0, "AF_PACKET": 10.0}
    assert [(a, b, round(r, 3), t) for a, b, r, t in lines] == [
        ("pyxsk", "C xskbench", 0.9, 0.95), ("pyxsk", "AF_PACKET", 9.0, 5.0),
        ("AF_PACKET", "pyxsk", 0.111, None)]
    out = capsys.readouterr().out
    assert "pyxsk / C xskbench = 0.90  (rounds: 0.90 0.50 1.00; target >= 0.95: NOT met)" in out
    assert "pyxsk / AF_PACKET = 9.00  (rounds: 9.00 5.00 10.00; target >= 5.00: met)" in out
    assert "AF_PACKET / pyxsk = 0.11  (rounds: 0.11 0.20 0.10)\n" in out


def test_receivers_run_as_recommended_and_c_gets_the_same_treatment(bench):
    runs = dict(bench.contenders("rxdrop", args(), "/tmp/xskbench"))
    assert set(runs) == {"C xskbench", "pyxsk", "pyxsk plain", "C batch", "AF_PACKET"}
    for argv in runs.values():
        assert argv[:6] == ["ip", "netns", "exec", bench.NS_B, "taskset", "-c"]
        assert argv[6] == bench.RECEIVER_CPU
    c_batch = runs["C batch"]
    assert c_batch[7:10] == ["chrt", "--batch", "0"]
    assert c_batch[c_batch.index("-r") + 1] == str(bench.COALESCED_RING)
    assert "-B" not in c_batch and "chrt" not in runs["C xskbench"]
    assert runs["pyxsk"][-10:-8] == ["_worker", "pyxsk-rxdrop"]
    assert runs["pyxsk plain"][-10:-8] == ["_worker", "pyxsk-plain-rxdrop"]
    l2fwd = dict(bench.contenders("l2fwd", args(batch=256), "/tmp/xskbench"))
    assert l2fwd["C batch"][l2fwd["C batch"].index("-B") + 1] == "256"


def test_senders_compare_with_c_at_the_same_tx_budget(bench):
    runs = dict(bench.contenders("txonly", args(batch=4096), "/tmp/xskbench"))
    assert set(runs) == {"C xskbench", "pyxsk", "C batch", "AF_PACKET"}
    assert runs["C batch"][runs["C batch"].index("-B") + 1] == str(bench.PLAIN_RING)
    assert all(argv[3] == bench.NS_A and argv[6] == bench.SENDER_CPU for argv in runs.values())


def test_every_worker_a_contender_names_exists(bench):
    for mode in bench.MODES:
        for name, argv in bench.contenders(mode, args(), "/tmp/xskbench"):
            if "_worker" in argv:
                assert argv[argv.index("_worker") + 1] in bench.WORKERS, name
