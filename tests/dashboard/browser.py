"""A headless Chromium driven through chromedriver's W3C WebDriver HTTP API: enough to type, click, wait and take
screenshots, with nothing to install beyond Debian's `chromium` and `chromium-driver` (httpx is already here)."""
import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time

import httpx

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element reference key
CHROMIUM_BINARIES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_available() -> bool:
    """Whether chromedriver and a Chromium binary are installed."""
    return shutil.which("chromedriver") is not None and _chromium_binary() is not None


def _chromium_binary() -> str | None:
    return next((path for path in CHROMIUM_BINARIES if os.access(path, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BrowserError(AssertionError):
    pass


class Chromium:
    """One headless browser window of `width`×`height` CSS pixels."""

    def __init__(self, width: int = 1280, height: int = 1400):
        port = _free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        self._wait_for_driver()
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "--hide-scrollbars"]
        capabilities = {"browserName": "chrome",
                        "goog:chromeOptions": {"binary": _chromium_binary(), "args": args}}
        response = self.http.post("/session", json={"capabilities": {"alwaysMatch": capabilities}})
        if response.status_code != 200:
            self.close()
            raise BrowserError(f"chromedriver refused a session: {response.text[:500]}")
        self.session = response.json()["value"]["sessionId"]

    def _wait_for_driver(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.http.get("/status").json()["value"]["ready"]:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise BrowserError("chromedriver did not start")

    def _call(self, method: str, path: str, body: dict | None = None):
        response = self.http.request(method, f"/session/{self.session}{path}", json=body)
        value = response.json().get("value")
        if response.status_code != 200:
            raise BrowserError(f"{method} {path}: {value}")
        return value

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return self._call("GET", "/url")

    @property
    def page_source(self) -> str:
        return self._call("GET", "/source")

    def find(self, css: str) -> str:
        """The element matching `css` (an id for the other calls); fails when there is none."""
        return self._call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def count(self, css: str) -> int:
        return len(self._call("POST", "/elements", {"using": "css selector", "value": css}))

    def click(self, css: str) -> None:
        """Scroll the element to the middle of the window, as a person would, then click it."""
        element = self.find(css)
        self.run("arguments[0].scrollIntoView({block: 'center'})", {ELEMENT: element})
        self._call("POST", f"/element/{element}/click", {})

    def type(self, css: str, text: str, clear: bool = True) -> None:
        element = self.find(css)
        if clear:
            self._call("POST", f"/element/{element}/clear", {})
        self._call("POST", f"/element/{element}/value", {"text": text})

    def text(self, css: str) -> str:
        return self._call("GET", f"/element/{self.find(css)}/text")

    def attribute(self, css: str, name: str) -> str | None:
        return self._call("GET", f"/element/{self.find(css)}/property/{name}")

    def run(self, script: str, *args):
        """Run `script` (a function body; `arguments` holds `args`) in the page and return its value."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, condition, timeout: float = 10, message: str = "condition") -> None:
        """Poll `condition()` until it is true; fail with `message` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except BrowserError:
                pass
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {message}")

    def screenshot(self, path: str) -> None:
        with open(path, "wb") as file:
            file.write(base64.b64decode(self._call("GET", "/screenshot")))

    def close(self) -> None:
        try:
            if getattr(self, "session", None):
                self.http.delete(f"/session/{self.session}")
        finally:
            self.http.close()
            self.driver.terminate()
            try:
                self.driver.wait(10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
            shutil.rmtree(self.profile, ignore_errors=True)
