"""A user points Keyhold at their Ollama, pulls a model from the Local models page and watches
the progress bar, sees it installed, then removes it (after a confirmation); a name the library
does not have is refused in Ollama's own words."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_first_run_lock_and_unlock import shot, submit, type_into, wait_for, wait_text


def test_a_user_pulls_a_local_model_and_removes_it(app, provider_sim):
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": "local models pass 1", "#confirm-passphrase": "local models pass 1"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    wait_for(d, '#add-provider option[value="ollama"]')
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("ollama")
    submit(d, "#add-save", {"#add-label": "my ollama", "#add-base-url": provider_sim["Ollama"]})
    wait_text(d, 'li[data-key-label="my ollama"] .health', "working")

    d.find_element(By.CSS_SELECTOR, "#nav-local").click()
    d.find_element(By.CSS_SELECTOR, "#ollama-refresh").click()
    wait_for(d, 'tr[data-model="llama3.2:1b"]')
    # Looking again updates the header's badge too: it never disagrees with the page.
    wait_text(d, "#ollama-badge", "2 models")
    assert "loaded" in d.find_element(By.CSS_SELECTOR, 'tr[data-model="llama3.2:1b"]').text

    type_into(d, "#pull-model", "gemma2:2b")
    d.find_element(By.CSS_SELECTOR, "#pull-button").click()
    # The bar shows while Ollama reports its steps, then the model is in the list.
    assert "gemma2:2b" in wait_for(d, "#pull-progress", timeout=10).text
    shot(d, "local-pulling")
    wait_text(d, "#pull-done", "gemma2:2b is installed", timeout=30)
    row = wait_for(d, 'tr[data-model="gemma2:2b"]')
    assert "1.3 GB" in row.text
    # The header badge agrees with the page.
    wait_text(d, "#ollama-badge", "3 models")

    row.find_element(By.CSS_SELECTOR, ".remove-model").click()
    assert "Agents with it as a step will fail" in wait_for(d, 'tr[data-model="gemma2:2b"] .confirm').text
    d.find_element(By.CSS_SELECTOR, 'tr[data-model="gemma2:2b"] .confirm-remove').click()
    wait_text(d, "#ollama-badge", "2 models")
    assert not d.find_elements(By.CSS_SELECTOR, 'tr[data-model="gemma2:2b"]')

    type_into(d, "#pull-model", "no-such-model:7b")
    d.find_element(By.CSS_SELECTOR, "#pull-button").click()
    assert "file does not exist" in wait_text(d, "#error", "could not pull", timeout=30)
