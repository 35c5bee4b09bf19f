"""A user builds an agent whose first step fails (the simulated Anthropic answers 500), chats
with it in the window, and sees the answer stream in from the fallback step, with the note
saying why, and the reply's tokens and cost."""
import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from test_first_run_lock_and_unlock import choose_model, shot, submit, type_into, wait_for, wait_text

KEY = "sk-sim-e2e-openai-key-0001"
ANSWER = "Hello from the simulator. Your request arrived intact."


def steer(url, behaviors):
    req = urllib.request.Request(f"{url}/_sim/behavior", data=json.dumps(behaviors).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    urllib.request.urlopen(req).close()


def test_a_user_chats_with_an_agent_whose_first_step_fails(app, provider_sim):
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": "agents passphrase 1", "#confirm-passphrase": "agents passphrase 1"})
    wait_text(d, "#status", "Unlocked", timeout=60)

    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    for provider, label, url in [("anthropic", "an", provider_sim["Anthropic"]), ("openai", "oa", provider_sim["OpenAI"])]:
        # The provider list comes from the core a moment after the page opens.
        wait_for(d, f'#add-provider option[value="{provider}"]')
        Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value(provider)
        submit(d, "#add-save", {"#add-label": label, "#add-key-secret": KEY, "#add-base-url": url})
        wait_for(d, f'li[data-key-label="{label}"]')

    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, "#new-agent").click()
    type_into(d, "#agent-name", "Writer")
    Select(d.find_element(By.CSS_SELECTOR, "#agent-key")).select_by_visible_text("an (anthropic)")
    choose_model(d, "claude-haiku-4-5")
    d.find_element(By.CSS_SELECTOR, "#add-step").click()
    Select(d.find_element(By.CSS_SELECTOR, ".step .step-key")).select_by_visible_text("oa (openai)")
    # The key was tested when it was saved, so its models are offered to choose from.
    Select(wait_for(d, "select.step-model")).select_by_visible_text("gpt-4o-mini")
    type_into(d, "#agent-budget", "1")
    d.find_element(By.CSS_SELECTOR, "#agent-save").click()
    card = wait_for(d, 'li[data-agent="Writer"]')
    assert "Falls back to: oa: gpt-4o-mini" in card.text
    assert "Today: $0 of $1.00" in card.text

    steer(provider_sim["Anthropic"], [{"status": 500, "times": 1}])
    d.find_element(By.CSS_SELECTOR, 'li[data-agent="Writer"] .chat-open').click()
    submit(d, "#chat-send", {"#chat-input": "Say hello cache-me please"})
    meta = wait_text(d, ".chat-line.assistant .reply-meta", "gpt-4o-mini", timeout=30)
    # In plain words: what it cost, who answered, the cached share; the token classes on hover.
    assert "· OpenAI gpt-4o-mini · 2 cached tokens" in meta and "$0" in meta, meta
    classes = d.find_element(By.CSS_SELECTOR, ".chat-line.assistant .reply-meta").get_attribute("title")
    assert "input 2 · output 8 · cache read 2 · cache write 0" in classes, classes
    assert "cloud" in meta
    note = d.find_element(By.CSS_SELECTOR, ".fallback-note").text
    assert note == "Anthropic claude-haiku-4-5 had a server error, so OpenAI gpt-4o-mini answered.", note
    assert d.find_element(By.CSS_SELECTOR, ".chat-line.assistant .chat-text").text == ANSWER
    # Today's spend moved off zero in the chat's header (live, from the ledger).
    wait_text(d, "#chat-agent-glance .spend", "today $0.0")
    shot(d, "agents-chat")

    # An empty message is not sent, as in any chat app: no new line, no request.
    sent = len(d.find_elements(By.CSS_SELECTOR, ".chat-line"))
    submit(d, "#chat-send", {"#chat-input": "   "})
    assert len(d.find_elements(By.CSS_SELECTOR, ".chat-line")) == sent


def test_a_user_stops_a_slow_answer_and_keeps_what_arrived(app, provider_sim):
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": "stopping passphrase 1", "#confirm-passphrase": "stopping passphrase 1"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    wait_for(d, '#add-provider option[value="openai"]')
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("openai")
    submit(d, "#add-save", {"#add-label": "oa", "#add-key-secret": KEY, "#add-base-url": provider_sim["OpenAI"]})
    wait_for(d, 'li[data-key-label="oa"]')
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, "#new-agent").click()
    type_into(d, "#agent-name", "Slow")
    Select(d.find_element(By.CSS_SELECTOR, "#agent-key")).select_by_visible_text("oa (openai)")
    choose_model(d, "gpt-4o-mini")
    d.find_element(By.CSS_SELECTOR, "#agent-save").click()
    wait_for(d, 'li[data-agent="Slow"] .chat-open').click()

    # Each word of the answer takes 400 ms: Stop after the first ones.
    steer(provider_sim["OpenAI"].rsplit("/v1", 1)[0], [{"delay_ms": 400, "times": 1}])
    submit(d, "#chat-send", {"#chat-input": "take your time"})
    wait_text(d, ".chat-line.assistant .chat-text", "Hello", timeout=30)
    # Esc, the Stop button's shortcut, from wherever the focus is.
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    meta = wait_text(d, ".chat-line.assistant .reply-meta", "stopped", timeout=10)
    assert "(estimated)" in meta, meta
    kept = d.find_element(By.CSS_SELECTOR, ".chat-line.assistant .chat-text").text
    assert kept.startswith("Hello") and kept != ANSWER, kept
    # The field is back for the next message, with Send instead of Stop.
    wait_for(d, "#chat-send")
