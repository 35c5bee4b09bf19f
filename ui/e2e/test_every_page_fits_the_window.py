"""Every page, at 1280×800 and at the window's minimum size (720×520), with a month of usage:
nothing is wider than its container and the page never scrolls sideways. Screenshots of each
page are written (KEYHOLD_SCREENSHOTS, or ui/screenshots with KEYHOLD_UPDATE_SCREENSHOTS=1) and
compared with the committed ones (the changed share of pixels is printed)."""
import os
import subprocess
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_first_run_lock_and_unlock import choose_model, submit, type_into, wait_for, wait_text

KEY = "sk-sim-e2e-openai-key-0001"
PAGES = ["chat", "overview", "agents", "usage", "providers", "local", "proxy", "privacy", "prices", "vault"]
COMMITTED = Path(__file__).resolve().parents[1] / "screenshots"

# Elements wider than the box they sit in, outside anything that scrolls on purpose.
OVERFLOW_JS = """
const out = [];
const main = document.querySelector('main');
// Inside something that scrolls sideways on purpose (a table, a code block); the page's own
// scroll area does not count.
const scrolls = (el) => { for (let p = el.parentElement; p && p !== main; p = p.parentElement) {
  const s = getComputedStyle(p); if (s.overflowX === 'auto' || s.overflowX === 'scroll' || s.overflowX === 'hidden') return true; }
  return false; };
for (const el of document.querySelectorAll('main *, .topbar *, .sidebar *')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || getComputedStyle(el).position === 'fixed') continue;
  const box = el.parentElement.getBoundingClientRect();
  if (r.right > box.right + 1.5 && !scrolls(el)) out.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(r.right - box.right)}px past ${el.parentElement.tagName.toLowerCase()}.${el.parentElement.className}`);
}
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth + 1) out.push(`the window scrolls sideways: ${doc.scrollWidth} > ${window.innerWidth}`);
if (main.scrollWidth > main.clientWidth + 1) out.push(`the page is wider than its area: ${main.scrollWidth} > ${main.clientWidth}`);
return out.slice(0, 10);
"""

# What a user cannot reach without scrolling a box sideways: a button, or a table column that
# is shown, cut by a box that scrolls or clips (a table's wrapper). A table keeps its primary
# columns (th.primary) on screen and hides the rest behind a toggle; it never hides a primary one.
HIDDEN_JS = """
const out = [];
const main = document.querySelector('main');
const clips = (el) => { const s = getComputedStyle(el); return s.overflowX !== 'visible'; };
for (const el of main.querySelectorAll('button, th, td button, input[type=checkbox]')) {
  const r = el.getBoundingClientRect();
  if (el.tagName === 'TH' && el.classList.contains('primary') && r.width === 0) {
    out.push(`a primary column is hidden: ${el.closest('table').id || 'table'} "${el.textContent}"`);
    continue;
  }
  if (r.width === 0 || r.height === 0) continue;
  for (let p = el.parentElement; p && p !== main; p = p.parentElement) {
    if (!clips(p)) continue;
    const box = p.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1) {
      out.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 30)}" is cut by ${p.tagName.toLowerCase()}.${p.className} (${Math.round(r.right - box.right)}px past)`);
      break;
    }
  }
}
for (const t of main.querySelectorAll('table:not(.u-legend)')) {
  if (t.getBoundingClientRect().width && !t.querySelector('th.primary')) out.push(`table ${t.id || t.className} names no primary column`);
}
return out.slice(0, 20);
"""


def compare(name, png):
    """Changed share of pixels against the committed screenshot, when both exist."""
    old = COMMITTED / f"{name}.png"
    if not old.exists():
        return "no committed screenshot yet"
    r = subprocess.run(["compare", "-metric", "AE", "-fuzz", "10%", str(old), str(png), "null:"],
                       capture_output=True, text=True)
    try:
        changed = float(r.stderr.split()[0])
    except (ValueError, IndexError):
        return f"not comparable ({r.stderr.strip()[:80]})"
    w, h = (int(v) for v in subprocess.run(["identify", "-format", "%w %h", str(png)], capture_output=True,
                                            text=True).stdout.split())
    return f"{changed / (w * h):.1%} of pixels changed"


def test_every_page_fits_at_1280x800_and_at_the_minimum_size(app, provider_sim):
    d = app.start()
    submit(d, "#create-vault", {"#new-passphrase": "layout passphrase 1", "#confirm-passphrase": "layout passphrase 1"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-providers").click()
    wait_for(d, '#add-provider option[value="openai"]')
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("openai")
    submit(d, "#add-save", {"#add-label": "Work account, main key for long-running-agents",
                            "#add-key-secret": KEY, "#add-base-url": provider_sim["OpenAI"]})
    wait_for(d, "li[data-key-label] .health.good")
    # A local Ollama too, so Local models lists models with their buttons.
    Select(d.find_element(By.CSS_SELECTOR, "#add-provider")).select_by_value("ollama")
    submit(d, "#add-save", {"#add-label": "my ollama", "#add-base-url": provider_sim["Ollama"]})
    wait_text(d, 'li[data-key-label="my ollama"] .health', "working")
    # The header hears of the new Ollama at once, not at its next look half a minute on.
    wait_text(d, "#ollama-badge", "2 models", timeout=10)
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, "#new-agent").click()
    type_into(d, "#agent-name", "research-assistant-with-a-long-name")
    choose_model(d, "gpt-4o-mini")
    type_into(d, "#agent-budget", "1")
    d.find_element(By.CSS_SELECTOR, "#agent-save").click()
    wait_for(d, "li[data-agent] .chat-open").click()
    wait_for(d, "#chat-input").send_keys("Explain `a_very_long_identifier_that_does_not_break_anywhere_at_all_0123456789` please")
    d.find_element(By.CSS_SELECTOR, "#chat-send").click()
    wait_for(d, ".chat-line.assistant .line-actions", timeout=30)

    out = Path(os.environ.get("KEYHOLD_SCREENSHOTS") or (COMMITTED if os.environ.get("KEYHOLD_UPDATE_SCREENSHOTS")
                                                          else tempfile.mkdtemp(prefix="keyhold-shots-")))
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    for size, (w, h) in [("1280x800", (1280, 800)), ("min", (720, 520))]:
        d.set_window_size(w, h)
        for page in PAGES:
            d.find_element(By.CSS_SELECTOR, f"#nav-{page}").click()
            wait_for(d, "main.page > *")
            d.execute_script("return new Promise(r => setTimeout(r, 400))")
            found = d.execute_script(OVERFLOW_JS) + d.execute_script(HIDDEN_JS)
            problems += [f"{page} at {size}: {p}" for p in found]
            png = out / f"{page}-{size}.png"
            d.save_screenshot(str(png))
            print(f"{page}-{size}: {compare(f'{page}-{size}', png)}")
        # The sidebar folds to icons in the narrow window, and unfolds on request.
        folded = d.execute_script("return document.querySelector('.body').classList.contains('icons')")
        assert folded == (size == "min"), f"sidebar folded at {size}: {folded}"
    d.find_element(By.CSS_SELECTOR, "#sidebar-toggle").click()
    assert "Usage" in d.find_element(By.CSS_SELECTOR, "#nav-usage").text
    assert not problems, "\n".join(problems)
