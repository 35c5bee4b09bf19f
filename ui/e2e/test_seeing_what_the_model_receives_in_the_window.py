"""In the real window, a user chats with an agent that hides personal data: before sending, the
preview shows the message exactly as the cloud provider will get it, each replacement
highlighted; the answer (the simulated provider echoes what it received) comes back with the
user's own values, and the chat says what was replaced. The provider saw placeholders only."""
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from test_first_run_lock_and_unlock import shot, submit, wait_for, wait_text
from test_tools_keep_private_data_from_the_cloud_with_official_sdks import received
from test_tools_using_the_proxy_with_official_sdks import PROVIDER_KEY, kh, steer

MESSAGE = "Please email elena.petrova@example.org the key sk-proj-CANARYwindow0123456789abcdefghij today"


def test_a_user_previews_what_the_model_receives_and_reads_their_own_values_back(app, provider_sim):
    data = app.data_dir
    (data.parent / "pass").write_text("privacy window passphrase")
    assert kh(data, "vault", "init").returncode == 0
    assert kh(data, "keys", "add", "--provider", "openai", "--label", "oa", "--base-url", provider_sim["OpenAI"], stdin=PROVIDER_KEY).returncode == 0
    assert kh(data, "agents", "add", "--name", "careful", "--model", "gpt-4o-mini", "--key", "oa", "--privacy", "pii").returncode == 0

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": "privacy window passphrase"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="careful"] .chat-open').click()
    wait_for(d, "#chat-preview-toggle").click()
    d.find_element(By.CSS_SELECTOR, "#chat-input").send_keys(MESSAGE)
    preview = wait_text(d, "#chat-preview .chat-text", "[SECRET_1]")
    assert preview == "Please email [EMAIL_1] the key [SECRET_1] today"
    marks = [m.text for m in d.find_elements(By.CSS_SELECTOR, "#chat-preview mark.placeholder")]
    assert marks == ["[EMAIL_1]", "[SECRET_1]"]
    assert "1 secret, 1 e-mail address replaced" in d.find_element(By.CSS_SELECTOR, "#chat-preview").text
    shot(d, "privacy-preview")

    url = provider_sim["OpenAI"]
    before = len(received(url))
    steer(url, [{"echo": True}])
    d.find_element(By.CSS_SELECTOR, "#chat-send").click()
    note = wait_text(d, ".chat-line.assistant .privacy-note", "Replaced before sending", timeout=30)
    assert "1 secret, 1 e-mail address" in note
    assert d.find_element(By.CSS_SELECTOR, ".chat-line.assistant .chat-text").text == MESSAGE
    sent = received(url)[before:]
    assert len(sent) == 1
    body = str(sent[0]["body"])
    assert "[EMAIL_1]" in body and "[SECRET_1]" in body
    assert "elena.petrova" not in body and "CANARYwindow" not in body
    shot(d, "privacy-answer")


def test_a_user_sets_their_phone_region_and_what_tool_calls_get_back_in_the_window(app, provider_sim):
    from selenium.webdriver.support.ui import Select

    data = app.data_dir
    (data.parent / "pass").write_text("region window passphrase")
    assert kh(data, "vault", "init").returncode == 0
    assert kh(data, "keys", "add", "--provider", "openai", "--label", "oa", "--base-url", provider_sim["OpenAI"], stdin=PROVIDER_KEY).returncode == 0
    assert kh(data, "agents", "add", "--name", "dialer", "--model", "gpt-4o-mini", "--key", "oa", "--privacy", "pii").returncode == 0
    # Whatever this machine's locale says: no region to begin with.
    assert kh(data, "phone-region", "none").returncode == 0

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": "region window passphrase"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    # A national number with no word such as "call" before it is sent as written while no
    # region is set.
    preview_of(d, "Ping Dana at (415) 247-9263 today")
    wait_text(d, "#chat-preview .chat-text", "(415) 247-9263")

    d.find_element(By.CSS_SELECTOR, "#nav-privacy").click()
    region = Select(wait_for(d, "#phone-region"))
    region.select_by_value("US")
    wait_for(d, "#phone-region")
    assert kh(data, "--json", "phone-region").stdout.count('"choice":"US"') == 1
    shot(d, "privacy-phone-region")

    preview_of(d, "Ping Dana at (415) 247-9263 today")
    preview = wait_text(d, "#chat-preview .chat-text", "[PHONE_1]")
    assert preview == "Ping Dana at [PHONE_1] today"

    # The agent form says what a tool call gets back, and keeps the choice.
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="dialer"] .edit').click()
    choice = Select(wait_for(d, "#agent-tool-values"))
    assert choice.first_selected_option.get_attribute("value") == "restore"
    choice.select_by_value("placeholders")
    d.find_element(By.CSS_SELECTOR, "#agent-save").click()
    wait_for(d, 'li[data-agent="dialer"] .edit')
    assert '"tool_values":"placeholders"' in kh(data, "--json", "agents", "show", "dialer").stdout


def preview_of(d, text):
    """Types `text` into dialer's chat on the Agents page, with the preview shown."""
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    if not d.find_elements(By.CSS_SELECTOR, "#chat-input"):
        wait_for(d, 'li[data-agent="dialer"] .chat-open').click()
    field = wait_for(d, "#chat-input")
    if not d.find_elements(By.CSS_SELECTOR, "#chat-preview"):
        wait_for(d, "#chat-preview-toggle").click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)
    field.send_keys(text)
