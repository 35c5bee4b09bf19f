"""A user's usage ledger is edited behind Keyhold's back while it is closed (a spent row made
free, to reopen a budget). At the next unlock the window names the row; the agent with a budget
is refused its paid step with the reason; the user acknowledges with the passphrase in the
window, and the agent answers again."""
import sqlite3

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from test_first_run_lock_and_unlock import submit, type_into, wait_for, wait_text
from test_getting_started_and_keeping_conversations import create_vault_and_open_keys, make_agent

KEY = "sk-sim-e2e-openai-key-0001"
PASSPHRASE = "ledger holds passphrase 1"


def test_a_user_sees_an_edited_ledger_named_and_acknowledges_it_in_the_window(app, provider_sim):
    d = app.start()
    create_vault_and_open_keys(d, PASSPHRASE)
    submit(d, "#add-save", {"#add-label": "oa", "#add-key-secret": KEY, "#add-base-url": provider_sim["OpenAI"]})
    wait_text(d, 'li[data-key-label="oa"] .health', "working")
    make_agent(d, "Writer")
    wait_for(d, 'li[data-agent="Writer"] .edit').click()
    type_into(d, "#agent-budget", "1.00")
    # Enter submits the form: a click on Save may land beside it while Edit's scroll into view
    # is still moving the form (seen once under CI load).
    d.find_element(By.CSS_SELECTOR, "#agent-budget").send_keys(Keys.ENTER)
    WebDriverWait(d, 20).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, "#agent-form")))
    wait_for(d, 'li[data-agent="Writer"] .chat-open').click()
    wait_for(d, "#chat-input").send_keys("first question", Keys.ENTER)
    wait_text(d, ".chat-line.assistant .reply-meta", "gpt-4o-mini", timeout=30)
    app.stop()

    # Behind Keyhold's back: the spent row made free.
    con = sqlite3.connect(app.data_dir / "keyhold.db")
    (row,) = con.execute("SELECT id FROM ledger WHERE agent = 'Writer'").fetchone()
    assert con.execute("UPDATE ledger SET cost_nano = 0 WHERE id = ?", (row,)).rowcount == 1
    con.commit()
    con.close()

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": PASSPHRASE})
    wait_text(d, "#status", "Unlocked", timeout=60)
    notice = wait_for(d, "#changed-outside")
    assert f"usage ledger row {row} was changed outside Keyhold" in notice.text, notice.text
    assert "local steps only" in notice.text
    # The agent with a budget gets no paid step, and is told why.
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="Writer"] .chat-open').click()
    wait_for(d, "#chat-input").send_keys("second question", Keys.ENTER)
    refused = wait_text(d, ".chat-line.assistant .error", "usage ledger was changed outside Keyhold", timeout=30)
    assert "acknowledge" in refused

    # Acknowledged with the passphrase (a wrong one is refused and changes nothing).
    wait_for(d, "#accept-changes").click()
    submit(d, "#accept-changes-confirm", {"#accept-changes-passphrase": "not the passphrase"})
    wait_text(d, '#changed-outside [data-kind="wrong_passphrase"]', "not the vault's current passphrase")
    submit(d, "#accept-changes-confirm", {"#accept-changes-passphrase": PASSPHRASE})
    WebDriverWait(d, 30).until(EC.invisibility_of_element_located((By.CSS_SELECTOR, "#changed-outside")))
    wait_for(d, "#chat-input").send_keys("third question", Keys.ENTER)
    wait_text(d, ".chat-line.assistant:last-child .reply-meta", "gpt-4o-mini", timeout=30)
    app.stop()
