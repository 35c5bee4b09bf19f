"""A user brings a key: adds it in Settings → LLM Providers against a provider (the in-repo
simulator), tests it, sees it only masked, replaces it, deactivates it, and reads a provider's
rejection of a wrong key."""
import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_first_run_lock_and_unlock import shot, submit, type_into, wait_for, wait_text

FIRST_KEY = "sk-sim-e2e-openai-key-0001"
SECOND_KEY = "sk-sim-e2e-openai-key-0002"


def row(d, label):
    return f'li[data-key-label="{label}"]'


def requests_seen(base_url):
    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/_sim/requests") as r:
        return json.load(r)


def test_a_user_adds_tests_replaces_and_deactivates_a_key(app, provider_sim):
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": "providers passphrase 1", "#confirm-passphrase": "providers passphrase 1"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    wait_for(d, "#providers")
    wait_text(d, "#no-keys", "No keys yet")

    # Add an OpenAI key pointed at the simulator, pasted with spaces around it (a typed newline
    # would submit the form, so spaces stand in for the usual paste debris).
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("openai")
    submit(d, "#add-save", {"#add-label": "Sim OpenAI", "#add-key-secret": "  " + FIRST_KEY + " ", "#add-base-url": provider_sim["OpenAI"]})
    wait_for(d, row(d, "Sim OpenAI"))
    assert "Removed spaces or line breaks" in wait_text(d, ".warning", "Removed")
    masked = d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .masked").text
    assert masked == "sk-…0001"
    assert FIRST_KEY not in d.page_source

    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .test").click()
    assert wait_text(d, f"{row(d, 'Sim OpenAI')} .last-test", "Valid") == "Valid: OpenAI accepted the key (3 models)."
    assert d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .health.good").text == "working"
    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .models-toggle").click()
    wait_text(d, f"{row(d, 'Sim OpenAI')} .models", "gpt-4o-mini")
    shot(d, "providers")

    # Replace it: same row, new mask, and the new key works.
    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .replace").click()
    submit(d, f"{row(d, 'Sim OpenAI')} .replace-save", {f"{row(d, 'Sim OpenAI')} .replace-secret": SECOND_KEY})
    wait_text(d, f"{row(d, 'Sim OpenAI')} .masked", "0002")
    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .test").click()
    wait_text(d, f"{row(d, 'Sim OpenAI')} .last-test", "Valid")
    assert SECOND_KEY not in d.page_source

    # Deactivate: the key can no longer be tested, and nothing more reaches the provider.
    before = len(requests_seen(provider_sim["OpenAI"]))
    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .toggle-active").click()
    wait_text(d, f"{row(d, 'Sim OpenAI')} .state", "deactivated")
    assert not d.find_element(By.CSS_SELECTOR, f"{row(d, 'Sim OpenAI')} .test").is_enabled()
    assert len(requests_seen(provider_sim["OpenAI"])) == before

    # A key the provider rejects: the provider's own words.
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("openai")
    submit(d, "#add-save", {"#add-label": "Wrong", "#add-key-secret": "sk-sim-not-a-real-key-9999", "#add-base-url": provider_sim["OpenAI"]})
    wait_for(d, row(d, "Wrong"))
    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Wrong')} .test").click()
    msg = wait_text(d, f"{row(d, 'Wrong')} .last-test", "Rejected")
    assert msg.startswith("Rejected by OpenAI (401): Incorrect API key provided."), msg
    assert d.find_element(By.CSS_SELECTOR, f"{row(d, 'Wrong')} .health.bad").text == "rejected"
    shot(d, "providers-rejected")

    # A bad base URL is refused and stores nothing.
    submit(d, "#add-save", {"#add-label": "Broken", "#add-key-secret": "sk-x", "#add-base-url": "localhost:1234"})
    assert "must start with http:// or https://" in wait_text(d, "#error", "base URL")
    assert not d.find_elements(By.CSS_SELECTOR, row(d, "Broken"))

    # Delete asks first.
    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Wrong')} .delete").click()
    d.find_element(By.CSS_SELECTOR, f"{row(d, 'Wrong')} .confirm-delete").click()
    wait_for(d, row(d, "Sim OpenAI"))
    import time
    deadline = time.time() + 10
    while d.find_elements(By.CSS_SELECTOR, row(d, "Wrong")) and time.time() < deadline:
        time.sleep(0.1)
    assert not d.find_elements(By.CSS_SELECTOR, row(d, "Wrong"))

    # No key in clear anywhere on disk (logs at debug level, database, vault).
    for path in app.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (FIRST_KEY, SECOND_KEY, "sk-sim-not-a-real-key-9999"):
                assert secret.encode() not in data, path
