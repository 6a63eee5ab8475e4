"""Headless Chromium driven over the DevTools protocol on a pipe (no port, no extra package): load a page, run
JavaScript in it, screenshot a region, and see every request it made. Its proxy is a local socket that counts
connections, and every host name fails to resolve, so nothing it is asked to fetch can leave the machine."""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_browser() -> str | None:
    return next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)


class ProxySink:
    """A local TCP listener standing in for the browser's proxy: it keeps each request's first line (``CONNECT
    host:443 ...`` or ``GET http://...``) and answers none."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    first_line = connection.recv(4096).split(b"\r\n", 1)[0]
                except OSError:
                    first_line = b"(nothing sent)"
                self.requests.append(first_line.decode(errors="replace"))

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.server.close()


def _move_to_pipe_fds(read_end: int, write_end: int) -> None:
    """In the child: the browser reads commands on fd 3 and writes replies on fd 4 (copied via fds >= 10, so
    neither end is overwritten on the way; only fds 3 and 4 stay open across exec)."""
    high_read, high_write = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (read_end, write_end))
    os.dup2(high_read, 3)
    os.dup2(high_write, 4)


class Browser:
    def __init__(self, executable: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.proxy = ProxySink()
        self.profile = tempfile.TemporaryDirectory()
        command_read, self.command_write = os.pipe()
        self.reply_read, reply_write = os.pipe()
        arguments = [
            executable, "--headless", "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}",
            "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1200,1000",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-breakpad",
            f"--proxy-server=http://127.0.0.1:{self.proxy.port}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ]  # fmt: skip
        if os.geteuid() == 0:
            arguments.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
        self.process = subprocess.Popen(
            arguments,
            close_fds=False,  # Python opens fds close-on-exec (PEP 446): the browser gets just 0-4
            preexec_fn=lambda: _move_to_pipe_fds(command_read, reply_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(command_read)
        os.close(reply_write)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable", session=True)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.reply_read], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.reply_read, 1 << 20) if ready else b""
            if not chunk:
                raise TimeoutError("the browser stopped answering")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params: object) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self.command_write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._read_message(deadline))
        return next(event for event in self.events if event.get("method") == method)

    def load(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str) -> object:
        deadline = time.monotonic() + self.timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"never true: {expression}")
            time.sleep(0.1)
        return value

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def script_errors(self) -> list[dict]:
        return [e["params"] for e in self.events if e.get("method") == "Runtime.exceptionThrown"]

    def screenshot(self, *selectors: str) -> list[np.ndarray]:
        """Each element's pixels (RGB, CSS-pixel scale) as the page shows them now, from one capture of the
        viewport (the elements must be inside it)."""
        from PIL import Image

        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
        crops = []
        for selector in selectors:
            element = f"document.querySelector({json.dumps(selector)})"
            rect = {key: round(value) for key, value in json.loads(self.evaluate(
                f"JSON.stringify({element}.getBoundingClientRect())")).items()}  # fmt: skip
            if rect["bottom"] > image.shape[0] or rect["right"] > image.shape[1] or min(rect["x"], rect["y"]) < 0:
                raise ValueError(f"{selector} is not inside the {image.shape[1]}x{image.shape[0]} viewport")
            crops.append(image[rect["top"] : rect["bottom"], rect["left"] : rect["right"]])
        return crops

    def close(self) -> None:
        """Kill the browser's process group (its renderer and GPU processes too; the profile is thrown away)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=self.timeout)
        for fd in (self.command_write, self.reply_read):
            os.close(fd)
        self.proxy.close()
        self.profile.cleanup()


def file_url(path: Path) -> str:
    return path.resolve().as_uri()
