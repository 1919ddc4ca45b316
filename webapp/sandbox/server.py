"""The sandbox Telegram's server: the Bot API emulator plus what its web client needs to read.

The emulator (``webapp.telegram_emulator``) already is a Bot API server that is never looser than
Telegram; the sandbox runs it as a process of its own and adds read-only views of its state for
the web client (``webapp.sandbox.views``), which reaches them over the emulator's HTTP control
interface like any other process would.
"""

from __future__ import annotations

import copy

from webapp.telegram_emulator import BotApiEmulator
from webapp.telegram_emulator.params import strip_private
from webapp.telegram_emulator.server import MEMBER_STATUSES


class SandboxTelegram(BotApiEmulator):
    CONTROL_ACTIONS = BotApiEmulator.CONTROL_ACTIONS | {
        "conversation", "chats_of", "users_between", "file_bytes", "has_bot", "chat_info",
    }

    def has_bot(self, token: str) -> bool:
        with self._cond:
            return token in self._bots

    def conversation(self, token: str, user_id: int) -> list:
        """The private chat between a user and a bot, oldest first, as Telegram clients get it
        (documents carry ``_file_name`` only, never their bytes)."""
        with self._cond:
            box = self._boxes.get(("private", token, int(user_id)))
            if not box:
                return []
            out = []
            for message_id in sorted(box["messages"]):
                msg = box["messages"][message_id]
                public = strip_private(copy.deepcopy(msg))
                out.append(public)
            return out

    def chats_of(self, user_id: int) -> list:
        """The channels and groups the user is in (as member, administrator or creator)."""
        with self._cond:
            out = []
            for chat in self._chats.values():
                status = self._status(chat, int(user_id))
                if status in MEMBER_STATUSES:
                    out.append({**copy.deepcopy(chat["chat"]), "status": status})
            return sorted(out, key=lambda c: c["title"])

    def chat_info(self, chat_id: int) -> dict:
        """A chat and everyone in it now, for the client's chat page."""
        with self._cond:
            chat = self._chat(chat_id)
            members = []
            for uid in list(chat["members"]):
                status = self._status(chat, uid)
                if status in MEMBER_STATUSES and uid in self._users:
                    members.append({**copy.deepcopy(self._users[uid]), "status": status})
            return {"chat": copy.deepcopy(chat["chat"]), "members": members}

    def users_between(self, low: int, high: int) -> list:
        """Users whose id is in [low, high): one dashboard owner's personas."""
        with self._cond:
            return [
                copy.deepcopy(user)
                for uid, user in sorted(self._users.items())
                if int(low) <= uid < int(high)
            ]

    def file_bytes(self, token: str, file_id: str) -> dict:
        """A document the bot sent, for the client to download (bytes travel as base64)."""
        with self._cond:
            self._bot(token)
            rec = self._files.get(file_id)
            if rec is None:
                raise KeyError(f"unknown file {file_id}")
            return {
                "file_name": rec.get("_file_name") or "file",
                "mime_type": rec.get("_mime_type") or "application/octet-stream",
                "content": rec["_bytes"],
            }
