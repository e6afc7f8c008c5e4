"""bench/peak_memory.py: the peak PSS of a process tree, its split by process, a command or a running --pid."""
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "peak_memory.py"
HOLD = "x = bytearray(300 * 2**20); import time; time.sleep(2)"   # 300 MB, written, held 2 s


def test_a_command_reports_its_peak_and_who_held_it(tmp_path):
    out = tmp_path / "mem.json"
    subprocess.run([sys.executable, str(BENCH), "--every", "0.2", "--out", str(out), "--",
                    sys.executable, "-c", HOLD], check=True, timeout=60)
    res = json.loads(out.read_text())
    assert res["returncode"] == 0 and res["peak_pss_gb"] >= 0.28
    split = res["peak_by_process"]
    assert split["python -c"]["processes"] == 1 and split["python -c"]["pss_gb"] >= 0.28
    assert abs(sum(v["pss_gb"] for v in split.values()) - res["peak_pss_gb"]) <= 0.02 * len(split)


def test_watching_a_running_process_by_pid(tmp_path):
    out = tmp_path / "mem.json"
    proc = subprocess.Popen([sys.executable, "-c", HOLD])
    try:
        time.sleep(0.5)
        subprocess.run([sys.executable, str(BENCH), "--pid", str(proc.pid), "--every", "0.2", "--out", str(out)],
                       check=True, timeout=60)
    finally:
        proc.wait(timeout=30)
    res = json.loads(out.read_text())
    assert res["peak_pss_gb"] >= 0.28 and "python -c" in res["peak_by_process"]
    assert res["command"].startswith(sys.executable)


def test_no_such_pid_is_a_clear_error():
    r = subprocess.run([sys.executable, str(BENCH), "--pid", "999999999"], capture_output=True, text=True)
    assert r.returncode != 0 and "no such process" in r.stderr
