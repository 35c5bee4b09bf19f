"""A user starts the proxy from the window, issues a token for an agent, hands it to a tool
(the official OpenAI SDK), and revokes it."""
import socket

import openai
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from test_first_run_lock_and_unlock import submit, type_into, wait_for, wait_text
from test_tools_using_the_proxy_with_official_sdks import ANSWER, PROVIDER_KEY, kh


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_user_issues_a_token_and_a_tool_uses_the_proxy_with_it(app, provider_sim):
    data = app.data_dir
    (data.parent / "pass").write_text("proxy window passphrase")
    assert kh(data, "vault", "init").returncode == 0
    assert kh(data, "keys", "add", "--provider", "openai", "--label", "oa", "--base-url", provider_sim["OpenAI"], stdin=PROVIDER_KEY).returncode == 0
    assert kh(data, "agents", "add", "--name", "coder", "--model", "gpt-4o-mini", "--key", "oa").returncode == 0

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": "proxy window passphrase"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-proxy").click()
    wait_text(d, "#proxy-state", "Stopped")
    # A free port may be taken by another program before the proxy binds it: the window says
    # so (#error, kind "proxy"), and the user picks another.
    for attempt in range(3):
        port = free_port()
        type_into(d, "#proxy-port", str(port))
        d.find_element(By.CSS_SELECTOR, "#proxy-start").click()
        WebDriverWait(d, 30).until(lambda _: "Running" in d.find_element(By.CSS_SELECTOR, "#proxy-state").text
                                   or d.find_elements(By.CSS_SELECTOR, "#error"))
        # Any error but a taken port is a failure, and says what it was.
        for e in d.find_elements(By.CSS_SELECTOR, "#error"):
            assert e.get_attribute("data-kind") == "proxy", e.text
        if "Running" in d.find_element(By.CSS_SELECTOR, "#proxy-state").text:
            break
    assert d.find_element(By.CSS_SELECTOR, "#proxy-state").text == f"Running on http://127.0.0.1:{port}"

    submit(d, "#token-issue", {"#token-label": "editor"})
    token = wait_for(d, "#issued-token").text
    assert token.startswith("kh-")
    assert f'base_url="http://127.0.0.1:{port}/v1", api_key="{token}"' in d.find_element(By.CSS_SELECTOR, "#snippet-openai").text

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0)
    r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == ANSWER

    # Revoking asks first, and says what it affects.
    d.find_element(By.CSS_SELECTOR, "li[data-token-id] .revoke").click()
    assert "Every tool using it stops working" in wait_for(d, "li[data-token-id] .confirm").text
    assert len(d.find_elements(By.CSS_SELECTOR, "li[data-token-id].inactive")) == 0, "nothing revoked before the confirmation"
    d.find_element(By.CSS_SELECTOR, "li[data-token-id] .confirm-revoke").click()
    # The revoked token leaves the list and the snippets; it is one click away.
    wait_text(d, "#show-revoked", "Show 1 revoked token")
    assert token not in d.find_element(By.CSS_SELECTOR, "#snippet-openai").text
    d.find_element(By.CSS_SELECTOR, "#show-revoked").click()
    wait_text(d, "li[data-token-id]", "revoked")
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_a_user_connects_claude_code_from_the_proxy_page_with_the_real_port_and_a_fresh_token(app, provider_sim):
    data = app.data_dir
    (data.parent / "pass").write_text("connect window passphrase")
    assert kh(data, "vault", "init").returncode == 0
    assert kh(data, "keys", "add", "--provider", "anthropic", "--label", "an", "--base-url", provider_sim["Anthropic"], stdin=PROVIDER_KEY).returncode == 0
    assert kh(data, "agents", "add", "--name", "claude", "--model", "claude-haiku-4-5", "--key", "an").returncode == 0

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": "connect window passphrase"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-proxy").click()
    wait_text(d, "#proxy-state", "Stopped")
    port = free_port()
    type_into(d, "#proxy-port", str(port))
    d.find_element(By.CSS_SELECTOR, "#proxy-start").click()
    wait_text(d, "#proxy-state", "Running", timeout=30)
    # The tool list starts on Claude Code; the only agent is chosen.
    d.find_element(By.CSS_SELECTOR, "#connect-show").click()
    text = wait_for(d, "#connect-text").text
    assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}\n" in text + "\n", text
    token = next(l.split("=", 1)[1] for l in text.splitlines() if l.startswith("export ANTHROPIC_AUTH_TOKEN="))
    assert "In the shell you start it from" in d.find_element(By.CSS_SELECTOR, "#connect-result").text
    # The token works, as Claude Code would use it (the Anthropic SDK, the same headers).
    import anthropic
    client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=token, max_retries=0)
    r = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert r.content[0].text == ANSWER
    # It is listed as Claude Code's, to revoke later.
    wait_text(d, "li[data-token-id]", "Claude Code")
