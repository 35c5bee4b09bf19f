"""A user points the coding agents they use at Keyhold: OpenAI's Codex CLI (which speaks only the
Responses API) and Anthropic's Claude Code (whose first request needs its beta flags), both the
real clients from npm (ui/e2e/clients, pinned), in front of the in-repo provider simulator.
Both answer, every model call is one ok ledger row, and the provider never sees Keyhold's
token or the caller's missing flags. The simulated model calls one of the client's own tools
(an `echo`), the client runs it and sends the result back: a whole tool round trip, once on the
client's own protocol and once after a fallback to a provider of the other protocol."""
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN
from test_tools_using_the_proxy_with_official_sdks import PROVIDER_KEY, kh, steer

CLIENTS = Path(__file__).parent / "clients" / "node_modules" / ".bin"
# What the simulated model's tool call prints when the client runs it (keyhold-sim's tools::ECHOED).
ECHOED = "keyhold-sim-tool-ran"


def sim_requests(base_url):
    root = base_url[:-3] if base_url.endswith("/v1") else base_url
    with urllib.request.urlopen(f"{root}/_sim/requests") as r:
        return json.load(r)


def ledger(data):
    out = subprocess.run([BIN, "--data-dir", str(data), "usage", "--format", "json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def serving(tmp_path, provider_sim):
    data = tmp_path / "data"
    (tmp_path / "pass").write_text("coding agents passphrase")
    assert kh(data, "vault", "init").returncode == 0
    for provider, label in [("openai", "oa"), ("anthropic", "an")]:
        url = provider_sim["OpenAI" if provider == "openai" else "Anthropic"]
        r = kh(data, "keys", "add", "--provider", provider, "--label", label, "--base-url", url, stdin=PROVIDER_KEY)
        assert r.returncode == 0, r.stderr
    for name, model, key, fallback in [("codex", "gpt-4o-mini", "oa", "an:claude-haiku-4-5"),
                                       ("claude", "claude-haiku-4-5", "an", "oa:gpt-4o-mini")]:
        assert kh(data, "agents", "add", "--name", name, "--model", model, "--key", key, "--fallback", fallback).returncode == 0
    server = subprocess.Popen([BIN, "--data-dir", str(data), "--passphrase-file", str(tmp_path / "pass"), "--json", "serve", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info = json.loads(server.stdout.readline())
    # Each client's home is the test's own: no user config, no login, no update check.
    home = tmp_path / "home"
    home.mkdir()
    yield {"data": data, "url": info["address"], "sim": provider_sim, "home": home}
    server.terminate()
    server.wait(timeout=10)


def connect(serving, tool, agent):
    """What `keyhold connect TOOL` says to write, as the user copies it."""
    r = kh(serving["data"], "--json", "connect", tool, "--agent", agent, "--url", serving["url"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def run_codex(serving, prompt):
    # The user runs `keyhold connect codex` and puts what it says in Codex's config.
    c = connect(serving, "codex", "codex")
    assert c["file"] == "~/.codex/config.toml" and 'wire_api = "responses"' in c["text"]
    token = next(l.split("=", 1)[1] for l in c["text"].splitlines() if l.startswith("# export KEYHOLD_TOKEN="))
    codex_home = serving["home"] / "codex"
    codex_home.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(c["text"])
    env = {**os.environ, "HOME": str(serving["home"]), "CODEX_HOME": str(codex_home), "KEYHOLD_TOKEN": token}
    # Codex's own sandbox helper is not part of the npm package's Linux build here; the only
    # command the simulated model asks for is an echo.
    return subprocess.run([str(CLIENTS / "codex"), "exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", prompt],
                          env=env, cwd=serving["home"], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def run_claude(serving, prompt):
    # The user runs `keyhold connect claude-code` and exports what it says.
    c = connect(serving, "claude-code", "claude")
    exports = dict(l.removeprefix("export ").split("=", 1) for l in c["text"].splitlines() if l.startswith("export "))
    assert set(exports) == {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"}, exports
    env = {**os.environ, **exports, "HOME": str(serving["home"]),
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1"}
    env.pop("ANTHROPIC_API_KEY", None)
    return subprocess.run([str(CLIENTS / "claude"), "-p", prompt, "--model", "claude-haiku-4-5", "--allowedTools", "Bash(echo:*)"],
                          env=env, cwd=serving["home"], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def test_codex_runs_a_tool_round_trip_through_keyhold_over_the_responses_api(serving):
    r = run_codex(serving, "say hi")
    assert r.returncode == 0, r.stderr[-2000:]
    # The model called Codex's command tool, Codex ran the echo, and the answer quotes it.
    assert "The tool said:" in r.stdout and ECHOED in r.stdout, r.stdout + r.stderr[-2000:]
    seen = [s for s in sim_requests(serving["sim"]["OpenAI"]) if s["path"] == "/v1/responses"]
    assert len(seen) >= 2 and all(s["authorized"] for s in seen), "the step's own key, never the caller's token"
    assert any(i.get("type") == "function_call_output" for i in seen[-1]["body"]["input"]), "the result came back"
    rows = ledger(serving["data"])
    assert rows and all((row["agent"], row["mode"], row["outcome"]) == ("codex", "proxy", "ok") for row in rows), rows
    assert len(rows) == len(seen), "one ledger row per model call"


def test_codex_falls_back_to_anthropic_with_its_tools_intact(serving):
    steer(serving["sim"]["OpenAI"], [{"status": 529, "times": 50}])
    try:
        r = run_codex(serving, "say hi")
    finally:
        steer(serving["sim"]["OpenAI"], [])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "The tool said:" in r.stdout and ECHOED in r.stdout, r.stdout + r.stderr[-2000:]
    calls = [s for s in sim_requests(serving["sim"]["Anthropic"]) if s["path"] == "/v1/messages"]
    assert len(calls) >= 2, "the tool call and its result both went to the fallback"
    tools = calls[0]["body"]["tools"]
    functions = [t for t in tools if "type" not in t]
    assert functions and all("input_schema" in t for t in functions), "tools in Anthropic's words"
    # Codex's web search is offered as Anthropic's own, its sub-agent namespace joined into names.
    assert {"type": "web_search_20250305", "name": "web_search"} in tools
    assert any(t["name"].startswith("multi_agent_v1__") for t in functions)
    last = calls[-1]["body"]["messages"]
    assert any(b.get("type") == "tool_result" for b in last[-1]["content"]), last[-1]
    rows = ledger(serving["data"])
    assert {row["outcome"] for row in rows} == {"http_529", "ok"}, rows
    assert not any(row["outcome"] == "tools_unsupported" for row in rows)


def test_claude_code_runs_a_tool_round_trip_through_keyhold_with_its_beta_flags_and_no_refused_call(serving):
    r = run_claude(serving, "[tool:Bash] say hi")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert ECHOED in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    calls = [s for s in sim_requests(serving["sim"]["Anthropic"]) if s["path"] == "/v1/messages"]
    assert calls and all(s["authorized"] for s in calls)
    # Its first request needs its beta flags (context_management): they reached the provider.
    first = calls[0]
    if "context_management" in first["fields"]:
        assert "context-management-" in first["headers"].get("anthropic-beta", ""), first["headers"]
    assert first["headers"].get("anthropic-version") == "2023-06-01"
    rows = ledger(serving["data"])
    assert rows and all(row["outcome"] == "ok" for row in rows), "no refused attempt: " + json.dumps(rows)
    assert len(rows) == len(calls), "one ledger row per model call"


def test_claude_code_falls_back_to_openai_with_its_tools_intact(serving):
    steer(serving["sim"]["Anthropic"], [{"status": 529, "times": 50}])
    try:
        r = run_claude(serving, "[tool:Bash] say hi")
    finally:
        steer(serving["sim"]["Anthropic"], [])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert ECHOED in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    chats = [s for s in sim_requests(serving["sim"]["OpenAI"]) if s["path"] == "/v1/chat/completions"]
    assert chats and any(t["function"]["name"] == "Bash" for t in chats[0]["body"]["tools"]), "tools in OpenAI's words"
    assert any(m["role"] == "tool" for m in chats[-1]["body"]["messages"]), "the result came back"
    # Beta headers are Anthropic's: none crossed into the other protocol.
    assert not any(k.startswith("anthropic-") for k in chats[0]["headers"]), chats[0]["headers"]
    rows = ledger(serving["data"])
    assert {row["outcome"] for row in rows} <= {"http_529", "ok"} and any(r["outcome"] == "ok" for r in rows), rows
