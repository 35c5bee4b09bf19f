"""A user lives in the Chat page: answers in full markdown (a table, a quote, a task list, a
link that shows its address first, a javascript: link refused), a long conversation that keeps
the composer and the newest answer on screen at 1280×800 and at 720×520, "jump to latest"
after scrolling up, one conversation list renamed and searched that survives a restart, and
the keyboard shortcuts."""
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_chatting_with_an_agent_that_falls_back import steer
from test_first_run_lock_and_unlock import submit, wait_for, wait_text
from test_getting_started_and_keeping_conversations import KEY, create_vault_and_open_keys, make_agent

PASSPHRASE = "living in the chat passphrase 1"
MARKDOWN = ("| Tool | Use |\n|:--|--:|\n| rg | search |\n\n> quoted advice\n\n- [x] done\n- [ ] later\n\n"
            "See [the docs](https://docs.example.com/a) or [this](javascript:alert(1)).")
LONG = " ".join(["A long answer line that keeps going"] * 40)

ON_SCREEN_JS = """
const r = document.querySelector(arguments[0]).getBoundingClientRect();
return [r.top >= -1 && r.bottom <= window.innerHeight + 1 && r.left >= -1 && r.right <= window.innerWidth + 1,
        `${Math.round(r.top)}..${Math.round(r.bottom)} in ${window.innerHeight}`];
"""


def on_screen(d, css):
    ok, where = d.execute_script(ON_SCREEN_JS, css)
    assert ok, f"{css} is off screen: {where}"


def wait_content(d, css, text):
    """Like wait_text, on the whole text: a title cut with an ellipsis reads short as .text."""
    WebDriverWait(d, 30).until(lambda _: any(text in e.get_attribute("textContent") for e in d.find_elements(By.CSS_SELECTOR, css)))


def ask(d, text):
    n = len(d.find_elements(By.CSS_SELECTOR, ".chat-line.assistant .reply-meta"))
    wait_for(d, "#chat-input").send_keys(text, Keys.ENTER)
    wait_for(d, f".chat-line.assistant:nth-of-type({2 * (n + 1)}) .reply-meta", timeout=30)


def test_a_user_reads_markdown_keeps_the_composer_in_view_and_finds_conversations_again(app, provider_sim):
    root = provider_sim["OpenAI"].rsplit("/v1", 1)[0]
    d = app.start()
    create_vault_and_open_keys(d, PASSPHRASE)
    submit(d, "#add-save", {"#add-label": "oa", "#add-key-secret": KEY, "#add-base-url": provider_sim["OpenAI"]})
    wait_text(d, 'li[data-key-label="oa"] .health', "working")
    make_agent(d, "Writer")
    make_agent(d, "Editor")
    d.find_element(By.CSS_SELECTOR, 'li[data-agent="Writer"] .chat-open').click()

    # Markdown as elements, never as raw | and >.
    steer(root, [{"answer": MARKDOWN, "times": 1}])
    ask(d, "markdown please")
    answer = d.find_element(By.CSS_SELECTOR, ".chat-line.assistant .chat-text")
    assert [th.text for th in answer.find_elements(By.CSS_SELECTOR, "table th")] == ["Tool", "Use"]
    assert answer.find_element(By.CSS_SELECTOR, "blockquote").text == "quoted advice"
    boxes = answer.find_elements(By.CSS_SELECTOR, "li.task input[type=checkbox]")
    assert [b.is_selected() for b in boxes] == [True, False]
    assert "|" not in answer.text and ">" not in answer.text
    # The javascript: link is refused on screen; the web link shows its address before anything opens.
    assert answer.find_element(By.CSS_SELECTOR, ".link-refused").text == "this"
    answer.find_element(By.XPATH, ".//a[normalize-space()='the docs']").click()
    assert "https://docs.example.com/a" in wait_for(d, ".link-confirm .link-address").text
    d.find_element(By.CSS_SELECTOR, ".link-cancel").click()

    # A long conversation: the composer and the newest answer stay on screen.
    steer(root, [{"answer": LONG, "times": 12}])
    for i in range(5):
        ask(d, f"question {i}")
    on_screen(d, "#chat-input")
    on_screen(d, ".chat-line.assistant:last-child .line-actions")
    # Scrolled up to read: no jumping back; "jump to latest" brings the newest answer back.
    d.execute_script("document.querySelector('.chat-scroll').scrollTop = 0")
    wait_for(d, "#chat-jump").click()
    d.execute_script("return new Promise(r => setTimeout(r, 300))")
    on_screen(d, ".chat-line.assistant:last-child .line-actions")

    # Renamed in the list, and found by a word from inside it.
    wait_for(d, "#conversations li.on .conv-rename-button").click()
    field = wait_for(d, ".conv-rename-input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Markdown and long answers", Keys.ENTER)
    wait_content(d, "#conversations li.on .conv-title", "Markdown and long answers")
    search = d.find_element(By.CSS_SELECTOR, "#conv-search")
    search.send_keys("quoted advice")
    wait_content(d, "#conversations .conv-snippet", "quoted advice")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys("no such words anywhere")
    wait_text(d, "#conv-empty", "No conversation holds")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)

    # At the minimum size, the same holds; the list folds behind a button.
    d.set_window_size(720, 520)
    ask(d, "one more at the small size")
    on_screen(d, "#chat-input")
    on_screen(d, "#chat-send")
    on_screen(d, ".chat-line.assistant:last-child .line-actions")
    assert not d.find_element(By.CSS_SELECTOR, "#conversations").is_displayed()
    d.find_element(By.CSS_SELECTOR, "#chat-list-toggle").click()
    assert d.find_element(By.CSS_SELECTOR, "#conversations").is_displayed()
    d.find_element(By.CSS_SELECTOR, "#chat-list-close").click()
    assert not d.find_element(By.CSS_SELECTOR, "#conversations").is_displayed()
    d.set_window_size(1280, 800)

    # Shortcuts: Ctrl+N a new chat, "/" back to the composer, Ctrl+2 the Overview, Ctrl+1 Chat,
    # "?" the sheet of shortcuts.
    body = d.find_element(By.CSS_SELECTOR, "body")
    d.execute_script("document.activeElement.blur()")
    body.send_keys(Keys.CONTROL, "n")
    wait_text(d, "#chat-empty", "A new chat with Writer")
    d.execute_script("document.activeElement.blur()")
    body.send_keys("/")
    assert d.switch_to.active_element.get_attribute("id") == "chat-input"
    d.execute_script("document.activeElement.blur()")
    body.send_keys(Keys.CONTROL, "2")
    wait_for(d, '#nav-overview[aria-current="page"]')
    body.send_keys(Keys.CONTROL, "1")
    wait_for(d, '#nav-chat[aria-current="page"]')
    d.execute_script("document.activeElement.blur()")
    body.send_keys("?")
    assert "Ctrl+N" in wait_for(d, "#shortcuts").text
    body.send_keys(Keys.ESCAPE)

    # After a restart, Chat opens on the conversation open last, with its name.
    Select(d.find_element(By.CSS_SELECTOR, "#chat-agent")).select_by_visible_text("Writer")
    wait_for(d, "#conversations .conv").click()
    wait_text(d, ".chat-line.user", "markdown please")
    app.stop()
    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": PASSPHRASE})
    wait_text(d, "#status", "Unlocked", timeout=60)
    wait_text(d, ".chat-line.user", "markdown please")
    wait_content(d, "#conversations li.on .conv-title", "Markdown and long answers")
    on_screen(d, "#chat-input")
    # Ctrl+Shift+L locks, and the passphrase field is ready for typing.
    d.find_element(By.CSS_SELECTOR, "body").send_keys(Keys.CONTROL, Keys.SHIFT, "l")
    wait_for(d, "#unlock-passphrase")
