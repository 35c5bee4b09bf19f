#!/usr/bin/env python3
"""Measures how the real window feels on a month of history: changing the Usage page's range,
and pressing Stop on a streaming answer.

Seeds a data dir with a month of ledger rows the way they really arrive: through `keyhold
serve` and the provider simulator, one serve per day, each run under libfaketime shifted back
that many days (so every row is chained and signed by Keyhold itself; nothing is written into
the database by hand). Then opens the app through tauri-driver (as the end-to-end tests do),
unlocks it, and times in the page, from the user's change to the first frame that shows it:

- range: the Usage range select changed (30 days, 7 days, 24 hours, in turn), until both charts
  have drawn the new range (their tick attributes changed) and the table is there;
- stop: Stop clicked while the simulator sends a word every 400 ms, until the reply says
  "stopped".

Usage (after `npm --prefix ui run build && cargo build --workspace --bins`, and
`bash .ci/setup --for-bench` for faketime):
  KEYHOLD_BIN=target/debug/keyhold KEYHOLD_SIM_BIN=target/debug/keyhold-sim \\
    xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \\
    $KEYHOLD_CACHE/venv/bin/python .ci/measure-window-feel.py [ROWS_PER_DAY] [REPEATS]
"""
import concurrent.futures
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "ui" / "e2e"))

from conftest import BIN, SIM_BIN, App  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PASSPHRASE = "feel passphrase orbit velvet"
KEY = "sk-sim-feel-openai-key-0001"
DAYS = 30


def kh(data, *args, stdin="", env=None):
    out = subprocess.run([BIN, "--data-dir", str(data), "--passphrase-file", str(data.parent / "pass"), *args],
                         input=stdin, capture_output=True, text=True, timeout=120, env=env)
    if out.returncode != 0:
        sys.exit(f"keyhold {' '.join(args)}: {out.stderr}")
    return out.stdout


def post(host, port, token, n):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a day of work"}]})
    for _ in range(n):
        conn.request("POST", "/v1/chat/completions", body, {"authorization": f"Bearer {token}", "content-type": "application/json"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
    conn.close()


def seed(data, token, per_day):
    """One `keyhold serve` per day, its clock shifted back that many days."""
    # libfaketime preloaded into keyhold itself (the `faketime` wrapper would be the process
    # terminated, leaving keyhold running); multithreaded variant, monotonic clock left alone.
    lib = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
    if not lib.exists():
        sys.exit("libfaketime is missing: bash .ci/setup --for-bench")
    for back in range(DAYS - 1, -1, -1):
        env = {**os.environ, "LD_PRELOAD": str(lib), "FAKETIME": f"-{back}d", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        server = subprocess.Popen([BIN, "--data-dir", str(data), "--passphrase-file",
                                   str(data.parent / "pass"), "--json", "serve", "--port", "0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        first = json.loads(server.stdout.readline())
        if "address" not in first:
            sys.exit(f"keyhold serve, {back} days back: {first} {server.stderr.read()}")
        address = first["address"]
        host, port = address.removeprefix("http://").split(":")
        # More on some days than others, so the chart has a shape.
        n = per_day * (3 if back in (3, 11) else 1)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda k: post(host, int(port), token, n // 4), range(4)))
        server.terminate()
        server.wait(timeout=20)


def timed_range_change(d, value):
    """Milliseconds from the select's change to the first frame with both charts redrawn."""
    return d.execute_async_script(
        """const [value, done] = arguments;
           const ticks = () => [...document.querySelectorAll('#usage [data-ticks]')].map(e => e.dataset.ticks).join('|');
           const before = ticks();
           const select = document.getElementById('usage-range');
           const t0 = performance.now();
           select.value = value;
           select.dispatchEvent(new Event('change', {bubbles: true}));
           const look = () => {
             const now = ticks();
             if (now !== before && document.querySelectorAll('#usage [data-ticks]').length === 2
                 && document.querySelector('#usage-recent tbody tr')) done(performance.now() - t0);
             else if (performance.now() - t0 > 20000) done(-1);
             else requestAnimationFrame(look);
           };
           requestAnimationFrame(look);""",
        value,
    )


def timed_stop(d):
    return d.execute_async_script(
        """const done = arguments[0];
           const t0 = performance.now();
           document.getElementById('chat-stop').click();
           const look = () => {
             const meta = [...document.querySelectorAll('.chat-line.assistant .reply-meta')].at(-1);
             if (meta && meta.textContent.includes('stopped')) done(performance.now() - t0);
             else if (performance.now() - t0 > 20000) done(-1);
             else requestAnimationFrame(look);
           };
           requestAnimationFrame(look);"""
    )


def steer(url, behaviors):
    root = url[:-3] if url.endswith("/v1") else url
    req = urllib.request.Request(f"{root}/_sim/behavior", data=json.dumps(behaviors).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req).close()


def main():
    per_day = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    sim = subprocess.Popen([SIM_BIN, "--port-base", "0", "--key", KEY], stdout=subprocess.PIPE, text=True)
    urls = dict(sim.stdout.readline().split() for _ in range(3))
    tmp = Path(tempfile.mkdtemp())
    data = tmp / "data"
    (tmp / "pass").write_text(PASSPHRASE)
    app = None
    try:
        kh(data, "vault", "init")
        kh(data, "keys", "add", "--provider", "openai", "--label", "oa", "--base-url", urls["OpenAI"], stdin=KEY)
        kh(data, "agents", "add", "--name", "feel", "--model", "gpt-4o-mini", "--key", "oa")
        token = kh(data, "agents", "token", "feel", "--label", "bench").strip()
        t = time.time()
        seed(data, token, per_day)
        rows = len(json.loads(kh(data, "usage", "--format", "json", "--since", "2000-01-01")))
        print(f"seeded {rows} ledger rows over {DAYS} days in {time.time() - t:.0f} s")

        app = App(data)
        d = app.start()
        d.set_window_size(1280, 800)
        WebDriverWait(d, 30).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#unlock-passphrase"))).send_keys(PASSPHRASE)
        d.find_element(By.CSS_SELECTOR, "#unlock-button").click()
        WebDriverWait(d, 60).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "Unlocked"))
        d.find_element(By.CSS_SELECTOR, "#nav-usage").click()
        WebDriverWait(d, 30).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#chart-cost [data-ticks]")))
        d.set_script_timeout(30)
        times = {"30d": [], "7d": [], "24h": []}
        timed_range_change(d, "30d")  # warm: the first view of the page
        for _ in range(repeats):
            for value in ("7d", "24h", "30d"):
                times[value].append(timed_range_change(d, value))
        for value, ts in times.items():
            assert all(x >= 0 for x in ts), (value, ts)
            print(f"usage range -> {value}: median {statistics.median(ts):.0f} ms (min {min(ts):.0f}, max {max(ts):.0f}, n={len(ts)})")

        d.find_element(By.CSS_SELECTOR, "#nav-chat").click()
        stops = []
        for k in range(max(3, repeats // 2)):
            steer(urls["OpenAI"], [{"delay_ms": 400, "times": 1}])
            field = WebDriverWait(d, 30).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#chat-input")))
            field.send_keys(f"take your time {k}")
            d.find_element(By.CSS_SELECTOR, "#chat-send").click()
            WebDriverWait(d, 30).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#chat-stop")))
            WebDriverWait(d, 30).until(
                lambda _: d.execute_script(
                    "const t = [...document.querySelectorAll('.chat-line.assistant .chat-text')].at(-1); return t && t.textContent.length > 0"
                )
            )
            stops.append(timed_stop(d))
            WebDriverWait(d, 30).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#chat-send")))
        assert all(x >= 0 for x in stops), stops
        print(f"stop to 'stopped' shown: median {statistics.median(stops):.0f} ms (min {min(stops):.0f}, max {max(stops):.0f}, n={len(stops)})")
    finally:
        if app:
            app.close()
        sim.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
