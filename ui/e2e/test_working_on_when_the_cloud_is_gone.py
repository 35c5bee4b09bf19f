"""Sovereign fallback: the cloud provider goes away (its simulator is stopped), an agent whose
chain ends on a local model keeps answering, marked local, and the window offers offline mode;
in offline mode nothing reaches any cloud provider."""
import json
import subprocess
import urllib.request

from selenium.webdriver.common.by import By

from conftest import SIM_BIN
from test_first_run_lock_and_unlock import shot, submit, wait_for, wait_text
from test_tools_using_the_proxy_with_official_sdks import ANSWER, PROVIDER_KEY, kh


def cloud_requests(url):
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/_sim/requests") as r:
        return [s for s in json.load(r) if s["path"] != "/v1/models"]


def chat(d, agent, text):
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, f'li[data-agent="{agent}"] .chat-open').click()
    submit(d, "#chat-send", {"#chat-input": text})
    return wait_text(d, ".chat-line.assistant:last-child .reply-meta", "·", timeout=30)


def test_an_agent_keeps_answering_locally_when_the_cloud_is_gone(app, provider_sim):
    # A cloud provider of its own, to stop.
    doomed = subprocess.Popen([SIM_BIN, "--port-base", "0", "--key", PROVIDER_KEY], stdout=subprocess.PIPE, text=True)
    doomed_url = doomed.stdout.readline().split()[1]
    data = app.data_dir
    (data.parent / "pass").write_text("sovereign passphrase")
    assert kh(data, "vault", "init").returncode == 0
    for provider, label, url in [("openai", "gone", doomed_url), ("openai", "alive", provider_sim["OpenAI"]), ("ollama", "local", provider_sim["Ollama"])]:
        assert kh(data, "keys", "add", "--provider", provider, "--label", label, "--base-url", url, stdin="" if provider == "ollama" else PROVIDER_KEY).returncode == 0
    assert kh(data, "agents", "add", "--name", "sovereign", "--model", "gpt-4o-mini", "--key", "gone", "--fallback", "local:llama3.2:1b").returncode == 0
    assert kh(data, "agents", "add", "--name", "cloudy", "--model", "gpt-4o-mini", "--key", "alive", "--fallback", "local:llama3.2:1b").returncode == 0

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": "sovereign passphrase"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    assert "Ollama 0.12.6 · 2 models" in wait_text(d, "#ollama-badge", "Ollama 0.12.6", timeout=30)

    doomed.terminate()
    doomed.wait(timeout=10)
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="sovereign"]')
    meta = chat(d, "sovereign", "are you there?")
    assert "stayed on this machine" in meta and "$0 · Local Ollama llama3.2:1b" in meta, meta
    assert d.find_element(By.CSS_SELECTOR, ".chat-line.assistant .chat-text").text == ANSWER
    assert "OpenAI gpt-4o-mini could not be reached, so Ollama llama3.2:1b (on this machine) answered." == d.find_element(By.CSS_SELECTOR, ".fallback-note").text
    wait_for(d, "#offer-offline")
    shot(d, "cloud-gone")

    # Offline mode, from the notice: nothing more reaches any cloud provider.
    d.find_element(By.CSS_SELECTOR, "#go-offline").click()
    wait_for(d, "#offline-notice")
    before = len(cloud_requests(provider_sim["OpenAI"]))
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    meta = chat(d, "cloudy", "stay local please")
    assert "stayed on this machine" in meta, meta
    assert len(cloud_requests(provider_sim["OpenAI"])) == before, "offline mode sent something to the cloud"

    # The Local models page lists what Ollama has.
    d.find_element(By.CSS_SELECTOR, "#nav-local").click()
    assert "Ollama 0.12.6 is running" in wait_text(d, "#ollama-state", "running")
    assert "qwen2.5:0.5b" in d.find_element(By.CSS_SELECTOR, "#local").text
