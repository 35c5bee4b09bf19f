"""A new user's first minutes: create the vault, lock, get refused with a wrong passphrase,
unlock; then start Keyhold again and meet the unlock screen, not a new vault."""
import os
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

PASSPHRASE = "CANARY-e2e-orbit-velvet-canyon-4417"
SHOTS = os.environ.get("KEYHOLD_SCREENSHOTS")


def wait_for(driver, css, timeout=30):
    return WebDriverWait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def wait_text(driver, css, text, timeout=30):
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element(By.CSS_SELECTOR, css).text


def type_into(driver, css, text):
    field = wait_for(driver, css)
    field.clear()
    field.send_keys(text)


def choose_model(driver, model):
    """Chooses the agent form's main model: from the list the key's last test gave when it is
    there, else typed under "Another model"."""
    from selenium.webdriver.support.ui import Select

    choices = driver.find_elements(By.CSS_SELECTOR, "#agent-model-choice")
    if choices:
        values = [o.get_attribute("value") for o in choices[0].find_elements(By.TAG_NAME, "option")]
        if model in values:
            Select(choices[0]).select_by_value(model)
            return
        Select(choices[0]).select_by_value("__typed")
    type_into(driver, "#agent-model", model)


def submit(driver, button, fields):
    """Types each {css: text} into its field, then clicks the button."""
    for css, text in fields.items():
        type_into(driver, css, text)
    driver.find_element(By.CSS_SELECTOR, button).click()


def shot(driver, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def test_a_new_user_creates_the_vault_locks_is_refused_a_wrong_passphrase_and_unlocks(app):
    d = app.start()
    wait_for(d, "#first-run")

    # Too short, then mismatched: each says why, and no vault appears on disk.
    type_into(d, "#new-passphrase", "short")
    type_into(d, "#confirm-passphrase", "short")
    wait_text(d, "#strength", "at least 10 characters")
    d.find_element(By.CSS_SELECTOR, "#create-vault").click()
    assert "too short" in wait_text(d, "#error", "too short")
    type_into(d, "#new-passphrase", PASSPHRASE)
    type_into(d, "#confirm-passphrase", PASSPHRASE + "x")
    d.find_element(By.CSS_SELECTOR, "#create-vault").click()
    wait_text(d, "#error", "do not match")
    assert not (app.data_dir / "vault.stronghold").exists()

    type_into(d, "#confirm-passphrase", PASSPHRASE)
    shot(d, "first-run")
    d.find_element(By.CSS_SELECTOR, "#create-vault").click()
    assert wait_text(d, "#status", "Unlocked", timeout=60) == "Unlocked"
    assert (app.data_dir / "vault.stronghold").exists()
    shot(d, "unlocked")

    d.find_element(By.CSS_SELECTOR, "#lock-button").click()
    wait_for(d, "#unlock")
    before = {p.name: p.read_bytes() for p in app.data_dir.glob("vault.*")}

    type_into(d, "#unlock-passphrase", "not my passphrase at all")
    d.find_element(By.CSS_SELECTOR, "#unlock-button").click()
    msg = wait_text(d, "#error", "Wrong passphrase")
    assert msg == "Wrong passphrase. The vault stays locked and nothing was changed."
    shot(d, "wrong-passphrase")
    assert {p.name: p.read_bytes() for p in app.data_dir.glob("vault.*")} == before
    # The field is emptied and has the focus, ready for the next try.
    field = d.find_element(By.CSS_SELECTOR, "#unlock-passphrase")
    assert field.get_attribute("value") == ""
    assert d.switch_to.active_element == field

    type_into(d, "#unlock-passphrase", PASSPHRASE)
    d.find_element(By.CSS_SELECTOR, "#unlock-button").click()
    wait_text(d, "#status", "Unlocked", timeout=60)

    # Start again on the same data dir: the unlock screen, never a second first run.
    app.stop()
    d = app.start()
    wait_for(d, "#unlock")
    assert not d.find_elements(By.CSS_SELECTOR, "#first-run")

    # The passphrase is nowhere on disk: logs, database, vault files.
    for path in app.data_dir.rglob("*"):
        if path.is_file():
            assert PASSPHRASE.encode() not in path.read_bytes(), path


def test_a_user_changes_the_passphrase_in_the_window_and_only_the_new_one_opens(app):
    first, second = "first passphrase 1234", "second passphrase 5678"
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": first, "#confirm-passphrase": first})
    wait_text(d, "#status", "Unlocked", timeout=60)

    d.find_element(By.CSS_SELECTOR, "#nav-vault").click()
    change = {"#current-passphrase": "wrong current one", "#replacement-passphrase": second, "#replacement-confirm": second}
    submit(d, "#change-button", change)
    # The vault is open: the error says the passphrase is not the current one, not "stays locked".
    msg = wait_text(d, "#error", "current passphrase")
    assert msg == "That is not the vault's current passphrase. Nothing was changed.", msg
    assert "Unlocked" in d.find_element(By.CSS_SELECTOR, "#status").text
    assert wait_for(d, "#strength").text, "the new passphrase is rated as it is typed"
    submit(d, "#change-button", {"#current-passphrase": first})
    wait_text(d, "#changed", "Passphrase changed", timeout=60)

    d.find_element(By.CSS_SELECTOR, "#lock-button").click()
    submit(d, "#unlock-button", {"#unlock-passphrase": first})
    wait_text(d, "#error", "Wrong passphrase")
    submit(d, "#unlock-button", {"#unlock-passphrase": second})
    wait_text(d, "#status", "Unlocked", timeout=60)
    # Back on the page the user locked from, not on Agents.
    wait_for(d, "#change-passphrase")


def test_a_user_asks_keyhold_to_start_at_login_and_changes_their_mind(app):
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": PASSPHRASE, "#confirm-passphrase": PASSPHRASE})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-vault").click()
    box = wait_for(d, "#autostart")
    assert not box.is_selected()
    entry = app.config_home / "autostart" / "keyhold.desktop"
    box.click()
    WebDriverWait(d, 10).until(lambda _: entry.exists())
    text = entry.read_text()
    assert "Exec=" in text and "keyhold" in text, text
    WebDriverWait(d, 10).until(lambda _: d.find_element(By.CSS_SELECTOR, "#autostart").is_selected())
    d.find_element(By.CSS_SELECTOR, "#autostart").click()
    WebDriverWait(d, 10).until(lambda _: not entry.exists())
