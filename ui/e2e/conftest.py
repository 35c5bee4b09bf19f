"""End-to-end fixtures: the real Keyhold window (WebKitGTK under Xvfb) driven through tauri-driver.

Each test gets its own data dir, so runs never share a vault. `KEYHOLD_BIN` names the binary
(.ci/test sets it); tauri-driver must be on PATH or in ~/.cargo/bin.
"""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.options import ArgOptions

BIN = os.environ.get("KEYHOLD_BIN", str(Path(__file__).resolve().parents[2] / "target/debug/keyhold"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tauri_driver():
    found = shutil.which("tauri-driver") or str(Path.home() / ".cargo/bin/tauri-driver")
    if not Path(found).exists():
        pytest.fail("tauri-driver is not installed: run .ci/setup --for-tests")
    return found


class App:
    """Starts (and restarts) the app on one data dir through one tauri-driver."""

    def __init__(self, data_dir: Path, env: dict | None = None):
        self.data_dir = data_dir
        # The app's own config folder (autostart entries), never the real user's.
        self.config_home = data_dir.parent / "config"
        # What the "user" picks in the save dialog: debug builds read the path from this file
        # instead of showing the GTK file chooser, which WebDriver cannot drive.
        self.save_dialog_answer = data_dir.parent / "save-dialog-answer"
        self.port = _free_port()
        self.driver_proc = subprocess.Popen(
            [_tauri_driver(), "--port", str(self.port), "--native-port", str(_free_port())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Debug logs, so the canary checks read the chattiest logs Keyhold can write.
            # The web view's own storage (localStorage) per test too: a choice one test made
            # (a folded sidebar) must not greet the next.
            env={**os.environ, "KEYHOLD_LOG": "debug", "XDG_CONFIG_HOME": str(self.config_home),
                 "XDG_DATA_HOME": str(data_dir.parent / "xdg-data"), "XDG_CACHE_HOME": str(data_dir.parent / "xdg-cache"),
                 "KEYHOLD_TEST_SAVE_DIALOG": str(self.save_dialog_answer), **(env or {})},
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        self.driver = None

    def start(self):
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability(
            "tauri:options", {"application": BIN, "args": ["--data-dir", str(self.data_dir)]}
        )
        # tauri-driver accepts connections a moment before WebKitWebDriver behind it is ready;
        # a new session in that window is dropped. Retry the session start, never the test.
        for attempt in range(4):
            try:
                self.driver = webdriver.Remote(f"http://127.0.0.1:{self.port}", options=options)
                break
            except Exception:  # urllib3 ProtocolError or WebDriverException, depending on timing
                if attempt == 3:
                    raise
                time.sleep(1 + attempt)
                # An app started by the dropped session must be gone before the next one starts.
                deadline = time.time() + 10
                while time.time() < deadline and _lock_held(self.data_dir):
                    time.sleep(0.2)
        self.driver.implicitly_wait(0)
        return self.driver

    def stop(self):
        if self.driver is not None:
            self.driver.quit()
            self.driver = None
            # The app's writer lock is released when its process is gone.
            deadline = time.time() + 10
            while time.time() < deadline and _lock_held(self.data_dir):
                time.sleep(0.1)

    def close(self):
        self.stop()
        self.driver_proc.terminate()
        try:
            self.driver_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.driver_proc.kill()


def _lock_held(data_dir: Path) -> bool:
    import fcntl

    lock = data_dir / "keyhold.lock"
    if not lock.exists():
        return False
    with open(lock, "r+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True


@pytest.fixture
def app(tmp_path):
    a = App(tmp_path / "data")
    yield a
    a.close()


SIM_BIN = os.environ.get("KEYHOLD_SIM_BIN", str(Path(BIN).with_name("keyhold-sim")))


@pytest.fixture
def provider_sim():
    """The in-repo provider simulators on free ports: {"OpenAI": url, "Anthropic": url, "Ollama": url}."""
    proc = subprocess.Popen(
        [SIM_BIN, "--port-base", "0", "--key", "sk-sim-e2e-openai-key-0001", "--key", "sk-sim-e2e-openai-key-0002"],
        stdout=subprocess.PIPE,
        text=True,
    )
    urls = {}
    while len(urls) < 3:
        line = proc.stdout.readline()
        if not line:
            pytest.fail("keyhold-sim did not start")
        name, url = line.split()
        urls[name] = url
    yield urls
    proc.terminate()
    proc.wait(timeout=10)
