"""A tool using the official OpenAI and Anthropic SDKs through Keyhold's proxy, as an agent with
the pii policy: the simulated providers (in echo mode, answering three characters at a time, so
every placeholder is split across stream events) receive placeholders only, and the SDKs read
the user's own values back, streaming and not."""
import json
import subprocess
import urllib.request

import anthropic
import openai
import pytest

from conftest import BIN
from test_tools_using_the_proxy_with_official_sdks import PROVIDER_KEY, kh, steer

PRIVATE = "Forward this to elena.petrova@example.org with the deploy key ghp_CANARYsecret0123456789abcdefghijklmn, thanks"
VALUES = ["elena.petrova@example.org", "CANARYsecret"]


def received(url):
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/_sim/requests") as r:
        return [s for s in json.load(r) if s["path"] != "/v1/models"]


@pytest.fixture
def private_proxy(tmp_path, provider_sim):
    data = tmp_path / "data"
    (tmp_path / "pass").write_text("sdk test passphrase")
    assert kh(data, "vault", "init").returncode == 0
    for provider, label, url in [("openai", "oa", provider_sim["OpenAI"]), ("anthropic", "an", provider_sim["Anthropic"])]:
        assert kh(data, "keys", "add", "--provider", provider, "--label", label, "--base-url", url, stdin=PROVIDER_KEY).returncode == 0
    for name, model, key in [("clerk", "gpt-4o-mini", "oa"), ("scribe", "claude-haiku-4-5", "an")]:
        r = kh(data, "agents", "add", "--name", name, "--model", model, "--key", key, "--privacy", "pii")
        assert r.returncode == 0, r.stderr
    tokens = {a: kh(data, "agents", "token", a).stdout.strip() for a in ("clerk", "scribe")}
    server = subprocess.Popen([BIN, "--data-dir", str(data), "--passphrase-file", str(tmp_path / "pass"), "--json", "serve", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info = json.loads(server.stdout.readline())
    yield {"url": info["address"], "tokens": tokens, "sim": provider_sim}
    server.terminate()
    server.wait(timeout=10)


def assert_only_placeholders_left(url, before):
    for seen in received(url)[before:]:
        body = json.dumps(seen["body"])
        assert "[EMAIL_1]" in body and "[SECRET_1]" in body, body
        for v in VALUES:
            assert v not in body, f"{v} reached the provider"


@pytest.mark.parametrize("stream", [False, True])
def test_the_openai_sdk_gets_its_values_back_and_the_provider_sees_placeholders(private_proxy, stream):
    url = private_proxy["sim"]["OpenAI"]
    before = len(received(url))
    steer(url, [{"echo": True}])
    client = openai.OpenAI(base_url=private_proxy["url"] + "/v1", api_key=private_proxy["tokens"]["clerk"], max_retries=0)
    messages = [{"role": "user", "content": PRIVATE}]
    if stream:
        chunks = client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=messages)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = client.chat.completions.create(model="gpt-4o-mini", messages=messages).choices[0].message.content
    assert text == PRIVATE
    assert_only_placeholders_left(url, before)


@pytest.mark.parametrize("stream", [False, True])
def test_the_anthropic_sdk_gets_its_values_back_and_the_provider_sees_placeholders(private_proxy, stream):
    url = private_proxy["sim"]["Anthropic"]
    before = len(received(url))
    steer(url, [{"echo": True}])
    client = anthropic.Anthropic(base_url=private_proxy["url"], api_key=private_proxy["tokens"]["scribe"], max_retries=0)
    messages = [{"role": "user", "content": PRIVATE}]
    if stream:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=200, messages=messages) as s:
            text = "".join(s.text_stream)
    else:
        text = client.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=messages).content[0].text
    assert text == PRIVATE
    assert_only_placeholders_left(url, before)
