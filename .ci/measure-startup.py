#!/usr/bin/env python3
"""Measures the app as a user starts it: cold start to first paint, and resident memory at idle.

Runs the real binary under the current $DISPLAY (use xvfb-run) N times. "First paint" is the
time from process start to the window's first rendered frame, as logged by the app (the
front-end reports it on its first animation frame). Memory is the summed RSS of the app and
its WebKit helper processes after 5 s idle on the unlock screen, and again 5 s after the
passphrase was typed into the window (xdotool) and the vault unlocked (the app logs it).

Usage: xvfb-run -a dbus-run-session -- python3 .ci/measure-startup.py BIN [N]
"""
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tree_rss_kib(pid):
    """RSS of pid and all its descendants, in KiB."""
    children = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = int(re.search(r"^PPid:\s+(\d+)", text, re.M).group(1))
        children.setdefault(ppid, []).append(int(status.parent.name))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text(), re.M)
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


PASSPHRASE = "measure passphrase orbit velvet"


def rss(pid, field="VmRSS"):
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def logs(log_dir):
    return "".join(log.read_text() for log in log_dir.glob("*.log"))


def one_run(binary, data_dir):
    log_dir = data_dir / "logs"
    proc = subprocess.Popen([binary, "--data-dir", str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paint = None
    deadline = time.time() + 30
    while time.time() < deadline and paint is None:
        for log in log_dir.glob("*.log"):
            found = re.findall(r"first paint ms=(\d+)", log.read_text())
            if found:
                paint = int(found[-1])
        time.sleep(0.05)
    time.sleep(5)
    main = rss(proc.pid)
    total = tree_rss_kib(proc.pid)
    unlocked = None
    if shutil.which("xdotool"):
        # The unlock field has the focus when the window opens: type into it as a user would.
        subprocess.run(["xdotool", "type", "--delay", "5", PASSPHRASE], check=False)
        subprocess.run(["xdotool", "key", "Return"], check=False)
        deadline = time.time() + 30
        while time.time() < deadline and "vault unlocked" not in logs(log_dir):
            time.sleep(0.1)
        if "vault unlocked" in logs(log_dir):
            time.sleep(5)
            unlocked = (rss(proc.pid), rss(proc.pid, "RssAnon"), tree_rss_kib(proc.pid))
    proc.terminate()
    proc.wait(timeout=10)
    for log in log_dir.glob("*.log"):
        log.unlink()
    return paint, main, total, unlocked


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        pf = Path(tmp) / "pass"
        pf.write_text(PASSPHRASE)
        subprocess.run([binary, "--data-dir", str(data), "--passphrase-file", str(pf), "vault", "init"], check=True,
                       stdout=subprocess.DEVNULL)
        runs = [one_run(binary, data) for _ in range(n)]
    paints = [r[0] for r in runs if r[0] is not None]
    print(f"runs: {n}")
    print(f"first paint (ms): median {statistics.median(paints):.0f}, all {paints}")
    print(f"RSS keyhold process (MiB): median {statistics.median(r[1] for r in runs) / 1024:.1f}")
    print(f"RSS with WebKit helpers (MiB): median {statistics.median(r[2] for r in runs) / 1024:.1f}")
    after = [r[3] for r in runs if r[3]]
    if after:
        print(f"after unlock, 5 s idle: RSS keyhold process (MiB): median {statistics.median(a[0] for a in after) / 1024:.1f}"
              f" (of which anonymous {statistics.median(a[1] for a in after) / 1024:.1f});"
              f" with WebKit helpers {statistics.median(a[2] for a in after) / 1024:.1f}")
    else:
        print("after unlock: not measured (install xdotool: bash .ci/setup --for-bench)")


if __name__ == "__main__":
    main()
