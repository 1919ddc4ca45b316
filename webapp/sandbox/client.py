"""The web app's line to the sandbox Telegram's control interface (``/_emulator/<action>``).

The sandbox server is its own process; the dashboard drives it over HTTP as any other process
would, so gunicorn's workers all see the same sandbox.
"""

import base64

import requests


class SandboxUnavailable(Exception):
    """The sandbox server did not answer (not started, or stopped)."""


class SandboxRefused(Exception):
    """The sandbox refused the action (unknown message, button or link); ``str()`` says why."""


class SandboxClient:
    def __init__(self, base_url: str, timeout: float = 5):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, action: str, **kwargs):
        try:
            response = requests.post(
                f"{self.base_url}/_emulator/{action}", json=kwargs, timeout=self.timeout
            )
            answer = response.json()
        except (requests.RequestException, ValueError):
            raise SandboxUnavailable(
                f"The sandbox Telegram does not answer at {self.base_url}."
            ) from None
        if not answer.get("ok"):
            raise SandboxRefused(answer.get("error") or "refused")
        return answer["result"]

    def file(self, token: str, file_id: str) -> tuple[bytes, str, str]:
        found = self.call("file_bytes", token=token, file_id=file_id)
        return base64.b64decode(found["content"]), found["file_name"], found["mime_type"]
