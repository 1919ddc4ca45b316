"""The web app's line to the sandbox Telegram's control interface (``/_emulator/<action>``).

The sandbox server is its own process; the dashboard drives it over HTTP as any other process
would, so gunicorn's workers all see the same sandbox.
"""

import base64

import requests
from flask_babel import gettext


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
                gettext("The sandbox Telegram does not answer at %(url)s.", url=self.base_url)
            ) from None
        if not answer.get("ok"):
            raise SandboxRefused(answer.get("error") or "refused")
        return answer["result"]

    def provision(self, bot, owner, name: str) -> None:
        """A sandbox bot, and a channel and a group created by ``owner`` where it is an
        administrator with every right a membership bot needs."""
        self.call("add_bot", token=bot.token, username=bot.username, first_name=bot.first_name)
        self.call("add_user", user_id=owner.user_id, first_name=owner.first_name)
        for chat_id, kind, title in (
            (bot.channel_id, "channel", f"{name} Channel"),
            (bot.group_id, "supergroup", f"{name} Chat"),
        ):
            self.call("add_chat", chat_id=chat_id, type=kind, title=title[:128])
            self.call("set_chat_admin", chat_id=chat_id, user_id=owner.user_id, status="creator")
            self.call("set_chat_admin", chat_id=chat_id, user_id=bot.user_id)

    def file(self, token: str, file_id: str) -> tuple[bytes, str, str]:
        found = self.call("file_bytes", token=token, file_id=file_id)
        return base64.b64decode(found["content"]), found["file_name"], found["mime_type"]
