"""A user chats through the simulator, watches the Usage page's chart and request table update,
exports the ledger, and reads the file back: it sums to what the page shows."""
import csv
from pathlib import Path
from decimal import Decimal

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import App

from test_first_run_lock_and_unlock import shot, submit, wait_for, wait_text
from test_tools_using_the_proxy_with_official_sdks import PROVIDER_KEY, kh


def test_a_user_sees_usage_update_and_exports_it(app, provider_sim, tmp_path):
    data = app.data_dir
    (data.parent / "pass").write_text("usage passphrase")
    assert kh(data, "vault", "init").returncode == 0
    assert kh(data, "keys", "add", "--provider", "openai", "--label", "oa", "--base-url", provider_sim["OpenAI"], stdin=PROVIDER_KEY).returncode == 0
    assert kh(data, "agents", "add", "--name", "counter", "--model", "gpt-4o-mini", "--key", "oa", "--budget-usd", "1").returncode == 0

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": "usage passphrase"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    d.find_element(By.CSS_SELECTOR, "#nav-usage").click()
    wait_text(d, "#usage-empty", "No usage recorded")
    assert "provider's invoice is the authority" in d.find_element(By.CSS_SELECTOR, "#usage-note").text

    # Chat on the Agents page; the Usage page shows it.
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="counter"] .chat-open').click()
    submit(d, "#chat-send", {"#chat-input": "count my tokens cache-me"})
    wait_text(d, ".chat-line.assistant .reply-meta", "gpt-4o-mini", timeout=30)
    d.find_element(By.CSS_SELECTOR, "#nav-usage").click()
    wait_for(d, "#chart-tokens canvas")
    wait_for(d, "#chart-cost canvas")
    assert len(d.find_elements(By.CSS_SELECTOR, "#usage-recent tbody tr")) == 1
    assert "counter $0.000" in wait_text(d, "#usage-budgets", "counter")

    # Another chat while the page is open (through the CLI is not possible while the app holds
    # the data dir; the window's chat lives on the Agents page), then back: two rows.
    d.find_element(By.CSS_SELECTOR, "#nav-agents").click()
    wait_for(d, 'li[data-agent="counter"] .chat-open').click()
    submit(d, "#chat-send", {"#chat-input": "and again"})
    wait_text(d, ".chat-line.assistant .reply-meta", "gpt-4o-mini", timeout=30)
    d.find_element(By.CSS_SELECTOR, "#nav-usage").click()
    wait_for(d, "#chart-tokens canvas")
    rows = d.find_elements(By.CSS_SELECTOR, "#usage-recent tbody tr")
    assert len(rows) == 2
    # Costs read as people write them; the exact value is in each cell's tooltip.
    cells = [r.find_element(By.CSS_SELECTOR, "td.cost") for r in rows]
    assert all(c.text.startswith("$") for c in cells)
    page_total = sum(Decimal(c.get_attribute("title").removesuffix(" USD")) for c in cells)
    # The period's totals add up the same.
    assert "2" in d.find_element(By.CSS_SELECTOR, "#usage-totals").text
    shot(d, "usage")

    # Export with the page's own button; the save dialog's answer is the place the user picks.
    out = tmp_path / "usage.csv"
    app.save_dialog_answer.write_text(str(out))
    d.find_element(By.CSS_SELECTOR, "#export-csv").click()
    assert str(out) in wait_text(d, "#export-done", "2 rows written to")
    with open(out) as f:
        exported = list(csv.DictReader(f))
    assert sum(Decimal(r["cost_usd"]) for r in exported) == page_total
    assert list(exported[0].keys())[:4] == ["time", "agent", "mode", "step"]
    assert PROVIDER_KEY not in out.read_text()
    assert oct(out.stat().st_mode & 0o777) == oct(0o600), "an export is the user's alone"

    # The page cannot name a place itself: the command takes no path.
    err = d.execute_async_script(
        """const done = arguments[arguments.length - 1];
           window.__TAURI_INTERNALS__.invoke('usage_export', { query: { range: '7d', since: null, until: null, resolution: 'day', agent: null, filter: {} },
             path: '/tmp/elsewhere.csv', format: 'csv' }).then((r) => done(JSON.stringify(r)), (e) => done('error: ' + JSON.stringify(e)));""")
    assert not Path("/tmp/elsewhere.csv").exists(), err

    # An unwritable place: a clear error, nothing written.
    app.save_dialog_answer.write_text("/nonexistent-dir/usage.csv")
    d.find_element(By.CSS_SELECTOR, "#export-csv").click()
    wait_text(d, "#error", "Nothing was written")

@pytest.fixture
def app_west_of_utc(tmp_path):
    """The app in a zone west of UTC, where a day's local midnight is the UTC afternoon before."""
    a = App(tmp_path / "data", env={"TZ": "America/Los_Angeles"})
    yield a
    a.close()


def test_a_user_west_of_utc_reads_each_day_label_on_that_days_bar(app_west_of_utc, provider_sim):
    app = app_west_of_utc
    data = app.data_dir
    (data.parent / "pass").write_text("usage passphrase")
    assert kh(data, "vault", "init").returncode == 0
    assert kh(data, "keys", "add", "--provider", "openai", "--label", "oa", "--base-url", provider_sim["OpenAI"], stdin=PROVIDER_KEY).returncode == 0
    assert kh(data, "agents", "add", "--name", "west", "--model", "gpt-4o-mini", "--key", "oa").returncode == 0
    assert kh(data, "chat", "west", stdin="a spike today").returncode == 0

    d = app.start()
    submit(d, "#unlock-button", {"#unlock-passphrase": "usage passphrase"})
    wait_text(d, "#status", "Unlocked", timeout=60)
    assert d.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/Los_Angeles"
    d.find_element(By.CSS_SELECTOR, "#nav-usage").click()
    for span in ("7d", "30d"):
        Select(d.find_element(By.CSS_SELECTOR, "#usage-range")).select_by_value(span)
        wait_for(d, "#chart-cost [data-ticks]")
        # The same plot takes the new range's data: its ticks are read once its bars are drawn.
        WebDriverWait(d, 10).until(lambda d: (lambda n: n <= 8 if span == "7d" else n >= 28)(
            int(d.find_element(By.CSS_SELECTOR, "#chart-cost [data-buckets]").get_attribute("data-buckets"))))
        ticks = json.loads(d.find_element(By.CSS_SELECTOR, "#chart-cost [data-ticks]").get_attribute("data-ticks"))
        if span == "30d":
            assert 2 <= len(ticks) < 30, ticks
        # The tooltip (uPlot's legend) under each tick names the day the tick names.
        for t in ticks:
            shown = d.execute_script(
                """window.dispatchEvent(new Event('resize'));  // uPlot measures its plot area again
                   const over = document.querySelector('#chart-cost .u-over');
                   const r = over.getBoundingClientRect();
                   over.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + arguments[0], clientY: r.top + 20, bubbles: true}));
                   return document.querySelector('#chart-cost .u-legend .u-series:first-child .u-value').textContent;""",
                t["left"],
            )
            assert shown.split(",")[0] == t["label"], (span, t, shown)
    # The newest day, today, has its label: the spike is named by the day it happened.
    today = d.execute_script("return new Date().toLocaleDateString([], {month: 'short', day: 'numeric'})")
    assert ticks[-1]["label"] == today
