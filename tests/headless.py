"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``, for tests that open pages in a real
headless Chromium (Debian's ``chromium`` package). Standard library only."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["find_chromium", "Browser"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
    "--window-size=1400,1000",
)


def find_chromium() -> str | None:
    """The path of a Chromium/Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


class Browser:
    """One headless Chromium; :meth:`open` a page, then :meth:`call` CDP methods on it. Use as a context manager."""

    def __init__(self, binary: str, profile: Path, timeout: float = 30.0) -> None:
        cmd_r, self._cmd_w = os.pipe()  # we write commands; Chromium reads fd 3
        self._out_r, out_w = os.pipe()  # Chromium writes replies and events to fd 4

        def wire() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        self._proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._timeout, self._next_id, self._buf = timeout, 0, b""
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            os.write(self._cmd_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self._timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out_r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time.")
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe.")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False) -> dict[str, Any]:
        """Send a command (to the open page unless ``browser``) and return its result; events are kept in ``events``."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if not browser and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str) -> dict[str, Any]:
        """Block until ``event`` arrives (or was already received) and return it."""
        while True:
            for e in self.events:
                if e.get("method") == event:
                    return e
            self.events.append(self._read())

    def open(self, url: str, viewport: tuple[int, int] | None = None, *, mobile: bool = False) -> None:
        """Open ``url`` in a new tab, with the Page, Runtime and Network domains on, and wait for its load event;
        ``viewport``: lay it out at ``(width, height)`` CSS pixels (see :meth:`set_viewport`)."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, browser=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable")
        if viewport is not None:
            self.set_viewport(*viewport, mobile=mobile)
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (an exception in it raises)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Lay the page out at ``width`` x ``height`` CSS pixels (a phone with ``mobile``: the page's viewport meta tag
        is honoured, as on a phone)."""
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page (the whole page with ``full_page``), written to ``path``."""
        import base64

        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused element, as a keyboard would (input events fire)."""
        self.call("Input.insertText", {"text": text})

    def press(self, key: str, code: str, key_code: int) -> None:
        """Press and release one key on the focused element (e.g. ``("Enter", "Enter", 13)``)."""
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code,
                                                 "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code,
                                                 **({"text": "\r"} if kind == "keyDown" and key == "Enter" else {})})

    def click(self, x: float, y: float) -> None:
        """A real left click (mouse down and up) at page coordinates ``(x, y)`` of the viewport."""
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
