"""A user keeps the app open and scripts Keyhold from a terminal: the commands are run by the
app (over its socket in the data dir), what they change shows in the window, and a command given
the passphrase while the window is locked unlocks it, and says so."""
import json

from selenium.webdriver.common.by import By

from test_first_run_lock_and_unlock import submit, wait_for, wait_text
from test_tools_using_the_proxy_with_official_sdks import ANSWER, PROVIDER_KEY, kh

PASSPHRASE = "scripting while open 42"


def test_a_user_scripts_keyhold_from_a_terminal_while_the_app_is_open(app, provider_sim):
    data = app.data_dir
    (data.parent / "pass").write_text(PASSPHRASE)
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": PASSPHRASE, "#confirm-passphrase": PASSPHRASE})
    wait_text(d, "#status", "Unlocked", timeout=60)

    status = json.loads(kh(data, "--json", "status").stdout)
    assert (status["running"], status["front"], status["vault"]) == (True, "app", "unlocked"), status
    # The Agents page stays open while the terminal works.
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, "#agents")

    r = kh(data, "keys", "add", "--provider", "openai", "--label", "oa", "--base-url", provider_sim["OpenAI"], stdin=PROVIDER_KEY)
    assert r.returncode == 0, r.stderr
    r = kh(data, "agents", "add", "--name", "scripted", "--model", "gpt-4o-mini", "--key", "oa")
    assert r.returncode == 0, r.stderr
    # What the terminal did shows in the open page, without going anywhere.
    wait_for(d, 'li.agent-card[data-agent="scripted"]', timeout=10)
    r = kh(data, "chat", "scripted", stdin="hello from a terminal")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ANSWER + "\n"


    # The window locked: a command with the passphrase unlocks it, and says so.
    d.find_element(By.CSS_SELECTOR, "#lock-button").click()
    wait_for(d, "#unlock")
    assert json.loads(kh(data, "--json", "status").stdout)["vault"] == "locked"
    r = kh(data, "chat", "scripted", stdin="and again")
    assert r.returncode == 0, r.stderr
    assert "was locked; your passphrase unlocked it" in r.stderr, r.stderr
    wait_text(d, "#status", "Unlocked", timeout=30)
    assert PROVIDER_KEY not in r.stdout + r.stderr
