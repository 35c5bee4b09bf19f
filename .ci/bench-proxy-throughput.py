#!/usr/bin/env python3
"""Proxy throughput, side by side: the OpenAI simulator directly, through `keyhold serve`, and
through LiteLLM's proxy (when the `litellm[proxy]` package can be installed from PyPI), each
driven by wrk with the same request in one run. Prints the table of issue 14 and checks that
the ledger holds an ok row for every 200 wrk counted.

    python3 .ci/bench-proxy-throughput.py [--seconds N] [--litellm] [--keyhold BIN] [--sim BIN]

Needs wrk (Debian package `wrk`; .ci/setup --for-bench installs it) and release builds of
keyhold and keyhold-sim (built here when missing). --litellm installs litellm[proxy] into
$KEYHOLD_CACHE/litellm-venv the first time (a few minutes) and adds its column.
"""
import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

KEY = "sk-sim-bench-key-000000000001"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]})

LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def wrk(url, token, conns, seconds, threads):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % (BODY, token))
        script = f.name
    out = subprocess.run(
        ["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True, text=True, check=True).stdout
    os.unlink(script)

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"p50": ms("50"), "p99": ms("99"), "rps": rps, "total": total,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(1) if errors else ""}


def wait_http(url, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--litellm", action="store_true")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/keyhold/target"))
    ap.add_argument("--keyhold", default=f"{target}/release/keyhold")
    ap.add_argument("--sim", default=f"{target}/release/keyhold-sim")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run `bash .ci/setup --for-bench` (or apt-get install wrk)")
    if not (os.path.exists(a.keyhold) and os.path.exists(a.sim)):
        subprocess.run(["cargo", "build", "--release", "-p", "keyhold", "--bin", "keyhold",
                        "-p", "keyhold-sim", "--bin", "keyhold-sim"], check=True)

    procs = []
    tmp = tempfile.mkdtemp(prefix="keyhold-bench-")
    try:
        sim = subprocess.Popen([a.sim, "--port-base", "0", "--key", KEY], stdout=subprocess.PIPE, text=True)
        procs.append(sim)
        direct = sim.stdout.readline().split()[1]  # "OpenAI  http://127.0.0.1:P/v1"
        data, pw = os.path.join(tmp, "data"), os.path.join(tmp, "pass")
        with open(pw, "w") as f:
            f.write("bench passphrase 123")

        def kh(*args, stdin=""):
            r = subprocess.run([a.keyhold, "--data-dir", data, "--passphrase-file", pw, *args],
                               input=stdin, capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(r.stderr)
            return r.stdout.strip()

        kh("vault", "init")
        kh("keys", "add", "--provider", "openai", "--label", "oa", "--base-url", direct, stdin=KEY)
        kh("agents", "add", "--name", "bench", "--model", "gpt-4o-mini", "--key", "oa", "--privacy", "off")
        token = kh("agents", "token", "bench")
        serve = subprocess.Popen([a.keyhold, "--data-dir", data, "--passphrase-file", pw, "--json", "serve",
                                  "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(serve)
        proxy = json.loads(serve.stdout.readline())["openai_base_url"]

        targets = [("direct to simulator", f"{direct}/chat/completions", KEY),
                   ("Keyhold proxy", f"{proxy}/chat/completions", token)]
        if a.litellm:
            targets.append(("LiteLLM proxy (1 worker)", start_litellm(direct, tmp, procs), "sk-litellm-bench"))

        cores = os.cpu_count()
        threads = 2
        print(f"wrk -t{threads}, {a.seconds} s per cell, {cores} cores; simulator, proxy and wrk share them")
        results = {}
        for name, url, tok in targets:
            wrk(url, tok, 8, 2, threads)  # warm-up: connections, SQLite pages
            results[name] = {c: wrk(url, tok, c, a.seconds, threads) for c in (1, 8, 32)}
        rss = vm(serve.pid)

        names = [n for n, _, _ in targets]
        print("\n| | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        print("| 1 connection p50 / p99 | " + " | ".join(
            f"{results[n][1]['p50']:.2f} / {results[n][1]['p99']:.2f} ms" for n in names) + " |")
        for c in (8, 32):
            base = results[names[0]][c]["rps"]
            print(f"| {c} connections req/s | " + " | ".join(
                f"{results[n][c]['rps']:,.0f}" + ("" if i == 0 else f" ({results[n][c]['rps'] / base:.1%})")
                for i, n in enumerate(names)) + " |")
        kp, dp = results["Keyhold proxy"][1], results["direct to simulator"][1]
        print(f"\nKeyhold adds at 1 connection: p50 {kp['p50'] - dp['p50']:.2f} ms, p99 {kp['p99'] - dp['p99']:.2f} ms")
        print(f"keyhold serve resident memory after the load: {rss[0] / 1024:.1f} MiB (peak {rss[1] / 1024:.1f} MiB)")

        completed = sum(r["total"] - r["non2xx"] for r in results["Keyhold proxy"].values())
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        db = sqlite3.connect(os.path.join(data, "keyhold.db"))
        ok = db.execute("SELECT count(*) FROM ledger WHERE outcome = 'ok'").fetchone()[0]
        warm = 2 * 8  # the warm-up's requests are not in wrk's totals
        failed = {n: [r["errors"] for r in results[n].values() if r["errors"] or r["non2xx"]] for n in names}
        print(f"ledger: {ok} ok rows; wrk counted {completed} answered requests in the measured cells "
              f"(plus the warm-up); {'every 200 has its row' if ok >= completed else 'ROWS MISSING'}")
        if any(failed.values()):
            print("errors:", failed)
        del warm
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def vm(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        fields[k] = v.split()[0] if v.split() else "0"
    return int(fields.get("VmRSS", 0)), int(fields.get("VmHWM", 0))


def start_litellm(direct, tmp, procs):
    venv = os.path.join(os.environ.get("KEYHOLD_CACHE", os.path.expanduser("~/.cache/keyhold")), "litellm-venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "bin", "litellm")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "litellm[proxy]"], check=True)
    cfg = os.path.join(tmp, "litellm.yaml")
    with open(cfg, "w") as f:
        f.write(f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {direct}
      api_key: {KEY}
general_settings:
  master_key: sk-litellm-bench
""")
    port = 18999
    env = dict(os.environ, LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False", NO_DOCS="True")
    p = subprocess.Popen([os.path.join(venv, "bin", "litellm"), "--config", cfg, "--port", str(port),
                          "--num_workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    procs.append(p)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness")
    return f"http://127.0.0.1:{port}/v1/chat/completions"


if __name__ == "__main__":
    main()
