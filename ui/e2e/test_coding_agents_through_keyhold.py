"""A user points the coding agents they use at Keyhold: OpenAI's Codex CLI (which speaks only the
Responses API) and Anthropic's Claude Code (whose first request needs its beta flags), both the
real clients from npm (ui/e2e/clients, pinned), in front of the in-repo provider simulator.
Both answer, every model call is one ok ledger row, and the provider never sees Keyhold's
token or the caller's missing flags."""
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN
from test_tools_using_the_proxy_with_official_sdks import ANSWER, PROVIDER_KEY, kh

CLIENTS = Path(__file__).parent / "clients" / "node_modules" / ".bin"


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
    for name, model, key in [("codex", "gpt-4o-mini", "oa"), ("claude", "claude-haiku-4-5", "an")]:
        assert kh(data, "agents", "add", "--name", name, "--model", model, "--key", key).returncode == 0
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


def test_codex_answers_through_keyhold_over_the_responses_api(serving):
    # The user runs `keyhold connect codex` and puts what it says in Codex's config.
    c = connect(serving, "codex", "codex")
    assert c["file"] == "~/.codex/config.toml" and 'wire_api = "responses"' in c["text"]
    token = next(l.split("=", 1)[1] for l in c["text"].splitlines() if l.startswith("# export KEYHOLD_TOKEN="))
    codex_home = serving["home"] / "codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(c["text"])
    env = {**os.environ, "HOME": str(serving["home"]), "CODEX_HOME": str(codex_home), "KEYHOLD_TOKEN": token}
    r = subprocess.run([str(CLIENTS / "codex"), "exec", "--skip-git-repo-check", "say hi"], env=env, cwd=serving["home"],
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    assert ANSWER in r.stdout, r.stdout + r.stderr[-2000:]
    seen = [s for s in sim_requests(serving["sim"]["OpenAI"]) if s["path"] == "/v1/responses"]
    assert seen and all(s["authorized"] for s in seen), "the step's own key, never the caller's token"
    rows = ledger(serving["data"])
    assert rows and all((row["agent"], row["mode"], row["outcome"]) == ("codex", "proxy", "ok") for row in rows), rows
    assert len(rows) == len(seen), "one ledger row per model call"


def test_claude_code_answers_through_keyhold_with_its_beta_flags_and_no_refused_call(serving):
    # The user runs `keyhold connect claude-code` and exports what it says.
    c = connect(serving, "claude-code", "claude")
    exports = dict(l.removeprefix("export ").split("=", 1) for l in c["text"].splitlines() if l.startswith("export "))
    assert set(exports) == {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"}, exports
    env = {**os.environ, **exports, "HOME": str(serving["home"]),
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1"}
    env.pop("ANTHROPIC_API_KEY", None)
    r = subprocess.run([str(CLIENTS / "claude"), "-p", "say hi", "--model", "claude-haiku-4-5"], env=env, cwd=serving["home"],
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert r.stdout.strip(), r.stderr[-2000:]
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
