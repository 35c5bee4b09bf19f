"""Other tools use the stored keys through Keyhold's proxy without holding them: the official
OpenAI and Anthropic Python SDKs as real clients, `keyhold serve` as the server, the in-repo
simulators as the providers. Each call is checked in the ledger (`keyhold usage`)."""
import json
import os
import subprocess
import urllib.request

import anthropic
import openai
import pytest

from conftest import BIN

PROVIDER_KEY = "sk-sim-e2e-openai-key-0001"
ANSWER = "Hello from the simulator. Your request arrived intact."


def kh(data_dir, *args, stdin=""):
    return subprocess.run([BIN, "--data-dir", str(data_dir), "--passphrase-file", str(data_dir.parent / "pass"), *args],
                          input=stdin, capture_output=True, text=True, timeout=60)


def steer(url, behaviors):
    root = url[:-3] if url.endswith("/v1") else url
    req = urllib.request.Request(f"{root}/_sim/behavior", data=json.dumps(behaviors).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req).close()


@pytest.fixture
def proxy(tmp_path, provider_sim):
    data = tmp_path / "data"
    (tmp_path / "pass").write_text("sdk test passphrase")
    assert kh(data, "vault", "init").returncode == 0
    for provider, label, url in [("openai", "oa", provider_sim["OpenAI"]), ("anthropic", "an", provider_sim["Anthropic"]),
                                 ("ollama", "local", provider_sim["Ollama"])]:
        r = kh(data, "keys", "add", "--provider", provider, "--label", label, "--base-url", url, stdin="" if provider == "ollama" else PROVIDER_KEY)
        assert r.returncode == 0, r.stderr
    for args in (["--name", "coder", "--model", "gpt-4o-mini", "--key", "oa", "--fallback", "an:claude-haiku-4-5"],
                 ["--name", "writer", "--model", "claude-haiku-4-5", "--key", "an", "--fallback", "oa:gpt-4o-mini"],
                 ["--name", "tight", "--model", "gpt-4o-mini", "--key", "oa", "--max-tokens", "100", "--budget-usd", "0.00007", "--when-over", "refuse"]):
        r = kh(data, "agents", "add", *args)
        assert r.returncode == 0, r.stderr
    tokens = {a: kh(data, "agents", "token", a, "--label", "sdk").stdout.strip() for a in ("coder", "writer", "tight")}
    server = subprocess.Popen([BIN, "--data-dir", str(data), "--passphrase-file", str(tmp_path / "pass"), "--json", "serve", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info = json.loads(server.stdout.readline())
    yield {"data": data, "url": info["address"], "tokens": tokens, "sim": provider_sim}
    server.terminate()
    server.wait(timeout=10)


def ledger(data):
    out = subprocess.run([BIN, "--data-dir", str(data), "usage", "--format", "json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_openai_sdk_chats_plain_and_streaming_through_the_proxy(proxy):
    client = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key=proxy["tokens"]["coder"], max_retries=0)
    r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}])
    assert r.choices[0].message.content == ANSWER
    assert r.usage.completion_tokens == 8
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert all(c.usage is None for c in chunks), "the usage chunk the client did not ask for is hidden"
    models = client.models.list()
    assert [m.id for m in models.data] == ["gpt-4o-mini", "claude-haiku-4-5"]
    rows = ledger(proxy["data"])
    assert [(r["agent"], r["mode"], r["outcome"], r["output_tokens"]) for r in rows] == [("coder", "proxy", "ok", 8)] * 2
    assert PROVIDER_KEY not in json.dumps(rows)


def test_the_openai_sdk_uses_the_responses_api_through_the_proxy_as_codex_does(proxy):
    # coder runs on OpenAI (which speaks Responses): passed through; writer on Anthropic: translated.
    for agent in ("coder", "writer"):
        client = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key=proxy["tokens"][agent], max_retries=0)
        r = client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="hello there")
        assert r.output_text == ANSWER, agent
        assert r.usage.output_tokens > 0
        with client.responses.stream(model="gpt-4o-mini", input=[{"role": "user", "content": "hi"}]) as s:
            deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
            final = s.get_final_response()
        assert "".join(deltas) == ANSWER, agent
        assert final.output_text == ANSWER and final.status == "completed", agent
    rows = ledger(proxy["data"])
    assert [(r["agent"], r["provider"], r["outcome"]) for r in rows] == \
        [("coder", "openai", "ok")] * 2 + [("writer", "anthropic", "ok")] * 2, rows


def test_the_openai_sdk_embeds_through_the_proxy_on_openai_and_on_a_local_ollama(proxy):
    client = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key=proxy["tokens"]["coder"], max_retries=0)
    e = client.embeddings.create(model="text-embedding-3-small", input=["first", "second"])
    assert len(e.data) == 2 and len(e.data[0].embedding) > 1
    assert e.usage.prompt_tokens > 0
    # An agent on the local Ollama, added while serve runs (the CLI goes through it).
    assert kh(proxy["data"], "agents", "add", "--name", "indexer", "--model", "llama3.2:1b", "--key", "local").returncode == 0
    token = kh(proxy["data"], "agents", "token", "indexer").stdout.strip()
    local = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key=token, max_retries=0)
    e = local.embeddings.create(model="nomic-embed-text", input="index me")
    assert len(e.data) == 1 and len(e.data[0].embedding) > 1
    rows = [(r["agent"], r["provider"], r["model"], r["outcome"], r["local"]) for r in ledger(proxy["data"])]
    assert rows == [("coder", "openai", "text-embedding-3-small", "ok", False),
                    ("indexer", "ollama", "nomic-embed-text", "ok", True)], rows


def test_the_anthropic_sdk_counts_tokens_and_its_beta_flags_reach_the_provider(proxy):
    client = anthropic.Anthropic(base_url=proxy["url"], api_key=proxy["tokens"]["writer"], max_retries=0)
    n = client.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "count me, please"}])
    assert n.input_tokens > 0
    # A beta field with its flag, as Claude Code sends it: answered at once, with no refused
    # attempt in the ledger first.
    m = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}],
                               extra_headers={"anthropic-beta": "context-management-2025-06-27"},
                               extra_body={"context_management": {"edits": []}})
    assert m.content[0].text == ANSWER
    # Without the flag the provider refuses, and the SDK reads the provider's own words.
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}],
                               extra_body={"context_management": {"edits": []}})
    assert refused.value.body["error"]["message"] == "context_management: Extra inputs are not permitted"
    rows = ledger(proxy["data"])
    assert [r["outcome"] for r in rows] == ["ok", "http_400"], rows


def test_the_anthropic_sdk_streams_and_falls_back_through_the_proxy(proxy):
    client = anthropic.Anthropic(base_url=proxy["url"], api_key=proxy["tokens"]["writer"], max_retries=0)
    m = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert m.content[0].text == ANSWER
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as s:
        assert "".join(s.text_stream) == ANSWER
        assert s.get_final_message().usage.output_tokens == 8
    # The first step overloaded: the fallback answers, translated into Anthropic's stream.
    steer(proxy["sim"]["Anthropic"], [{"status": 529, "times": 1}])
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as s:
        assert "".join(s.text_stream) == ANSWER
    rows = ledger(proxy["data"])
    assert [(r["step"], r["provider"], r["outcome"]) for r in rows[-2:]] == [(0, "anthropic", "http_529"), (1, "openai", "ok")]


def test_a_wrong_token_and_a_spent_budget_are_refused_in_the_sdks_own_errors(proxy):
    bad = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key="kh-not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
    bad_a = anthropic.Anthropic(base_url=proxy["url"], api_key="kh-not-a-token", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad_a.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])

    tight = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key=proxy["tokens"]["tight"], max_retries=0)
    tight.chat.completions.create(model="x", messages=[{"role": "user", "content": "hello there"}])
    with pytest.raises(openai.RateLimitError) as refused:
        tight.chat.completions.create(model="x", messages=[{"role": "user", "content": "hello there"}])
    assert "Daily budget of agent tight reached" in str(refused.value)
    rows = [r for r in ledger(proxy["data"]) if r["agent"] == "tight"]
    assert [r["outcome"] for r in rows] == ["ok", "budget"]


NON_ASCII = "Grüße aus 東京 🦊 café"


def cut_writes(crlf=False):
    """Every event in two writes, cut inside a multi-byte character (or between \\r and \\n)."""
    return [{"answer": NON_ASCII, "split_writes": True, "crlf": crlf, "times": 1}]


@pytest.mark.parametrize("crlf", [False, True])
def test_both_sdks_read_non_ascii_answers_whole_when_the_provider_cuts_its_writes(proxy, crlf):
    sims = proxy["sim"]
    oa = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key=proxy["tokens"]["coder"], max_retries=0)
    steer(sims["OpenAI"], cut_writes(crlf))
    chunks = oa.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hallo"}])
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == NON_ASCII
    steer(sims["OpenAI"], cut_writes(crlf))
    r = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hallo"}])
    assert r.choices[0].message.content == NON_ASCII

    an = anthropic.Anthropic(base_url=proxy["url"], api_key=proxy["tokens"]["writer"], max_retries=0)
    steer(sims["Anthropic"], cut_writes(crlf))
    with an.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hallo"}]) as s:
        assert "".join(s.text_stream) == NON_ASCII
    steer(sims["Anthropic"], cut_writes(crlf))
    m = an.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hallo"}])
    assert m.content[0].text == NON_ASCII

    # Across protocols: an Anthropic client of the OpenAI agent gets the translation intact.
    an_coder = anthropic.Anthropic(base_url=proxy["url"], api_key=proxy["tokens"]["coder"], max_retries=0)
    steer(sims["OpenAI"], cut_writes(crlf))
    with an_coder.messages.stream(model="x", max_tokens=50, messages=[{"role": "user", "content": "hallo"}]) as s:
        assert "".join(s.text_stream) == NON_ASCII


OPENAI_TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look a thing up",
                                                  "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}}]
ANTHROPIC_TOOLS = [{"name": "lookup", "description": "Look a thing up",
                    "input_schema": {"type": "object", "properties": {"input": {"type": "string"}}}}]


def openai_round_trip(proxy, agent, stream):
    """A tool call and its result with the OpenAI SDK, as an agent framework does it."""
    client = openai.OpenAI(base_url=proxy["url"] + "/v1", api_key=proxy["tokens"][agent], max_retries=0)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    if stream:
        calls = {}
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS, stream=True):
            for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                c = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
                c["id"] = d.id or c["id"]
                c["name"] += (d.function.name or "") if d.function else ""
                c["arguments"] += (d.function.arguments or "") if d.function else ""
        call = calls[0]
        call_id, name, arguments = call["id"], call["name"], call["arguments"]
    else:
        r = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS)
        assert r.choices[0].finish_reason == "tool_calls"
        tc = r.choices[0].message.tool_calls[0]
        call_id, name, arguments = tc.id, tc.function.name, tc.function.arguments
    assert (name, json.loads(arguments)) == ("lookup", {"input": "sim"})
    messages += [{"role": "assistant", "content": None,
                  "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
                 {"role": "tool", "tool_call_id": call_id, "content": "18 °C and sunny"}]
    if stream:
        chunks = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=OPENAI_TOOLS).choices[0].message.content
    assert text == "The tool said: 18 °C and sunny"


def anthropic_round_trip(proxy, agent, stream):
    """A tool use and its result with the Anthropic SDK."""
    client = anthropic.Anthropic(base_url=proxy["url"], api_key=proxy["tokens"][agent], max_retries=0)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    if stream:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=messages, tools=ANTHROPIC_TOOLS) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages, tools=ANTHROPIC_TOOLS)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert (use.name, use.input) == ("lookup", {"input": "sim"})
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 °C and sunny"}]}]
    if stream:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=messages, tools=ANTHROPIC_TOOLS) as s:
            text = "".join(s.text_stream)
    else:
        text = client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages, tools=ANTHROPIC_TOOLS).content[0].text
    assert text == "The tool said: 18 °C and sunny"


@pytest.mark.parametrize("stream", [False, True])
def test_the_openai_sdk_completes_a_tool_call_round_trip_through_the_proxy(proxy, stream):
    openai_round_trip(proxy, "coder", stream)
    assert [r["outcome"] for r in ledger(proxy["data"])] == ["ok", "ok"]


@pytest.mark.parametrize("stream", [False, True])
def test_the_anthropic_sdk_completes_a_tool_use_round_trip_through_the_proxy(proxy, stream):
    anthropic_round_trip(proxy, "writer", stream)


@pytest.mark.parametrize("stream", [False, True])
def test_the_openai_sdk_tool_round_trip_falls_back_to_anthropic_translated(proxy, stream):
    # coder is OpenAI first, Anthropic second: with OpenAI down, Anthropic serves the tools.
    steer(proxy["sim"]["OpenAI"], [{"status": 529, "times": 2}])
    openai_round_trip(proxy, "coder", stream)
    rows = ledger(proxy["data"])
    assert [(r["provider"], r["outcome"]) for r in rows] == [("openai", "http_529"), ("anthropic", "ok")] * 2


@pytest.mark.parametrize("stream", [False, True])
def test_the_anthropic_sdk_tool_round_trip_falls_back_to_openai_translated(proxy, stream):
    # writer is Anthropic first, OpenAI second.
    steer(proxy["sim"]["Anthropic"], [{"status": 529, "times": 2}])
    anthropic_round_trip(proxy, "writer", stream)
    rows = ledger(proxy["data"])
    assert [(r["provider"], r["outcome"]) for r in rows] == [("anthropic", "http_529"), ("openai", "ok")] * 2


