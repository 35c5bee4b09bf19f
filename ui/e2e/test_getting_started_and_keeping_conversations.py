"""A new user lands on Chat with an empty vault, follows the first steps (add a key, test it,
create an agent, chat) to a first answer, and finds the conversation kept: after switching
agents, and after restarting Keyhold. The conversation is not readable in Keyhold's files."""
import sqlite3
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from test_first_run_lock_and_unlock import choose_model, shot, submit, type_into, wait_for, wait_text

KEY = "sk-sim-e2e-openai-key-0001"


def wait_gone(d, css, timeout=10):
    deadline = time.time() + timeout
    while d.find_elements(By.CSS_SELECTOR, css):
        assert time.time() < deadline, f"{css} is still shown"
        time.sleep(0.1)
PASSPHRASE = "getting started passphrase 1"
CANARY = "CANARY-conversation-heliotrope-5521"


def create_vault_and_open_keys(d, passphrase):
    """First run: the vault created, then the Keys page with its add form ready."""
    submit(d, "#create-vault", {"#new-passphrase": passphrase, "#confirm-passphrase": passphrase})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    wait_for(d, '#add-provider option[value="openai"]')
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("openai")


def make_agent(d, name, key="oa (openai)", warned=None):
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, "#new-agent").click()
    type_into(d, "#agent-name", name)
    Select(d.find_element(By.CSS_SELECTOR, "#agent-key")).select_by_visible_text(key)
    if warned:
        assert warned in wait_for(d, ".key-warning").text
    else:
        assert not d.find_elements(By.CSS_SELECTOR, ".key-warning")
    choose_model(d, "gpt-4o-mini")
    d.find_element(By.CSS_SELECTOR, "#agent-save").click()
    wait_for(d, f'li[data-agent="{name}"]')


def test_a_new_user_goes_from_an_empty_vault_to_a_first_answer_and_keeps_the_conversation(app, provider_sim):
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": PASSPHRASE, "#confirm-passphrase": PASSPHRASE})
    wait_text(d, "#status", "Unlocked", timeout=60)
    # This desktop (Xvfb) has no tray host: the window says so, rather than hide into nothing.
    # One line, ellipsized in a narrow window: read what it says, not what fits.
    assert "closing the window quits" in wait_for(d, "#no-tray").get_attribute("textContent")
    # Keyhold opens on Chat; with no agent yet it says so and leads to the first steps.
    assert "No agents yet" in wait_for(d, "#chat-no-agents").text
    wait_for(d, "#chat-get-started").click()
    steps = wait_for(d, "#first-steps")
    assert "Add a provider key" in steps.text
    shot(d, "overview-empty")
    steps.find_element(By.XPATH, ".//button[contains(., 'Add a key')]").click()
    wait_for(d, '#add-provider option[value="openai"]')
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("openai")
    submit(d, "#add-save", {"#add-label": "oa", "#add-key-secret": KEY, "#add-base-url": provider_sim["OpenAI"]})
    # Tested on save: its health says so.
    wait_text(d, 'li[data-key-label="oa"] .health', "working")

    make_agent(d, "Writer")
    make_agent(d, "Editor")
    d.find_element(By.CSS_SELECTOR, 'li[data-agent="Writer"] .chat-open').click()
    box = wait_for(d, "#chat-input")
    # Enter sends (Shift+Enter would be a new line).
    box.send_keys(f"Remember {CANARY}", Keys.ENTER)
    wait_text(d, ".chat-line.assistant .reply-meta", "gpt-4o-mini", timeout=30)
    # Listed under its first message (the whole of it in the title when the list is narrow).
    assert CANARY in wait_for(d, "#conversations .conv").get_attribute("title")
    shot(d, "chat")

    # Another agent starts a new chat; the list holds every agent's conversations, each naming
    # its agent, and opening Writer's goes back to Writer.
    Select(d.find_element(By.CSS_SELECTOR, "#chat-agent")).select_by_visible_text("Editor")
    wait_text(d, "#chat-empty", "A new chat with Editor")
    assert not d.find_elements(By.CSS_SELECTOR, ".chat-line")
    assert wait_for(d, "#conversations .conv-agent").text == "Writer"
    d.find_element(By.CSS_SELECTOR, "#conversations .conv").click()
    wait_text(d, ".chat-line.user", CANARY)
    assert Select(d.find_element(By.CSS_SELECTOR, "#chat-agent")).first_selected_option.text == "Writer"

    # The Overview now shows the spend and no first steps.
    d.find_element(By.CSS_SELECTOR, "#nav-overview").click()
    wait_text(d, "#spend-month", "1 request")
    assert not d.find_elements(By.CSS_SELECTOR, "#first-steps")
    assert "Writer" in d.find_element(By.CSS_SELECTOR, "#overview-agents").text

    # Writer's budget lowered below what it spent today: over budget, in colour and words,
    # on its card, on the Overview and in what needs a look.
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="Writer"] .edit').click()
    type_into(d, "#agent-budget", "0.000001")
    d.find_element(By.CSS_SELECTOR, "#agent-save").click()
    over = wait_text(d, 'li[data-agent="Writer"] .spend.over', "over budget")
    assert "%" in over
    d.find_element(By.CSS_SELECTOR, "#nav-overview").click()
    wait_text(d, '#overview-agents li[data-agent="Writer"] .spend.over', "over budget")
    assert "Writer is over budget" in wait_for(d, "#attention").text
    shot(d, "overview")

    # Restart: Keyhold opens on Chat with the last conversation.
    app.stop()
    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": PASSPHRASE})
    wait_text(d, "#status", "Unlocked", timeout=60)
    wait_text(d, ".chat-line.user", CANARY)
    assert "nav-chat" == d.find_element(By.CSS_SELECTOR, '.sidebar [aria-current="page"]').get_attribute("id")
    assert "Hello from the simulator" in d.find_element(By.CSS_SELECTOR, ".chat-line.assistant").text
    app.stop()

    # Sealed: the canary is in no file of the data dir, in clear.
    con = sqlite3.connect(app.data_dir / "keyhold.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert con.execute("SELECT count(*) FROM conversations").fetchone()[0] == 1
    con.close()
    for f in app.data_dir.rglob("*"):
        if f.is_file():
            assert CANARY.encode() not in f.read_bytes(), f"{f} holds the conversation in clear"


def test_a_key_the_provider_refuses_is_flagged_on_the_overview_and_on_the_agents_that_use_it(app, provider_sim):
    d = app.start()
    create_vault_and_open_keys(d, PASSPHRASE)
    # A key the simulator does not know: rejected when tested on save, and 401 on every call.
    submit(d, "#add-save", {"#add-label": "oa", "#add-key-secret": "sk-sim-e2e-revoked-key-0009",
                            "#add-base-url": provider_sim["OpenAI"]})
    wait_text(d, 'li[data-key-label="oa"] .health', "rejected")
    # The form says so when the key is chosen; the user goes on anyway.
    make_agent(d, "Writer", key="oa (openai) — rejected", warned="The provider refused the key “oa” when it was last tested.")
    d.find_element(By.CSS_SELECTOR, 'li[data-agent="Writer"] .chat-open').click()
    wait_for(d, "#chat-input").send_keys("hello", Keys.ENTER)
    wait_for(d, ".chat-line .error", timeout=30)
    # Flagged on the agent's card, on the key's card, and on the Overview.
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_text(d, 'li[data-agent="Writer"] .key-failing', "Key failing: oa")
    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    wait_text(d, 'li[data-key-label="oa"] .health', "refused on its last call")
    d.find_element(By.CSS_SELECTOR, "#nav-overview").click()
    flag = wait_text(d, '#overview-agents li[data-agent="Writer"] .key-failing', "oa")
    assert "key failing" in flag
    assert "refused on its last call" in d.find_element(By.CSS_SELECTOR, '#overview-keys li[data-key="oa"]').text
    assert "Writer depends on it" in d.find_element(By.CSS_SELECTOR, "#attention").text
    shot(d, "overview-key-refused")

    # The user replaces it with a key the provider accepts and tests it: every screen says so.
    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    wait_for(d, 'li[data-key-label="oa"] .replace').click()
    submit(d, 'li[data-key-label="oa"] .replace-save', {'li[data-key-label="oa"] .replace-secret': KEY})
    wait_text(d, 'li[data-key-label="oa"] .masked', "0001")
    wait_for(d, 'li[data-key-label="oa"] .test').click()
    wait_text(d, 'li[data-key-label="oa"] .last-test', "Valid")
    wait_text(d, 'li[data-key-label="oa"] .health', "working")
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="Writer"]')
    wait_gone(d, 'li[data-agent="Writer"] .key-failing')
    d.find_element(By.CSS_SELECTOR, "#nav-overview").click()
    wait_text(d, '#overview-keys li[data-key="oa"]', "working")
    assert not d.find_elements(By.CSS_SELECTOR, '#overview-agents li[data-agent="Writer"] .key-failing')
    assert "refused" not in d.find_element(By.CSS_SELECTOR, "#overview").text
