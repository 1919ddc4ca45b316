"""A fake Telegram Bot API server speaking real HTTP on 127.0.0.1.

State lives in :class:`BotApiEmulator`; every access goes through one re-entrant lock wrapped
in a :class:`threading.Condition` that is notified on every API call and state change, so tests
can block on :meth:`BotApiEmulator.wait_for` instead of sleeping.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import math
import mimetypes
import secrets
import sys
import threading
import time
import traceback
import zlib
from collections import Counter, deque

from .botapi import SEND_METHODS, BotApiMethods
from .httpd import EmulatorHTTPServer
from .params import ApiError, Params, decode_params, jsonable, strip_private, utf16_len
from .spec import check_call, method_spec
from .webhooks import WebhookDelivery

#: update kinds Telegram leaves out unless asked for explicitly in allowed_updates
EXCLUDED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MEMBER_STATUSES = ("creator", "administrator", "member")
#: Telegram keeps undelivered updates this long, then they are gone (outages lose them)
UPDATE_RETENTION_SECONDS = 24 * 3600
ADMIN_RIGHTS_DEFAULTS = {
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_post_messages": True,  # channels only
    "can_edit_messages": True,  # channels only
    "can_pin_messages": True,  # groups only
    "can_manage_topics": False,  # supergroups only
}
_CHANNEL_ONLY = ("can_post_messages", "can_edit_messages")
_GROUP_ONLY = ("can_pin_messages", "can_manage_topics")


class BotApiEmulator(BotApiMethods):
    """In-memory Telegram: bots, users, chats, messages, invite links, updates.

    All public methods are thread-safe. Chat and user ids are ints; tokens are strings.
    """

    CONTROL_ACTIONS = frozenset({
        "add_bot", "add_user", "add_chat", "set_chat_admin", "add_member", "member_status",
        "is_member", "send_message", "send_document", "send_photo", "edit_message",
        "press_button", "inject_update", "bot_added_as_admin", "bot_removed", "bot_demoted",
        "open_invite_link", "user_leaves", "calls", "sent_messages", "fail_next", "set_delay",
        "set_rate_limit", "stats", "reset", "block_bot", "unblock_bot", "wait_for_message",
        "advance_clock", "set_clock", "now", "invite_links", "join_requests", "pending_updates",
        "callback_answers", "chat_members", "clear_failures", "upgrade_to_supergroup",
        "set_webhook", "spec_violations", "start_bot", "user_creates_link",
    })

    def __init__(self, require_start: bool = True, clock_start: float | None = None,
                 strict: bool = True):
        """``require_start``: a bot may message only users who started it (or a join requester
        while the request waits), as on real Telegram. ``strict``: every call is checked against
        the Bot API specification; a call it would not accept is refused and kept in
        :meth:`spec_violations` (the test fixtures fail the test on any)."""
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        # A long poll waits on its bot's own condition, and webhook delivery on its own, both
        # over the same lock: with 1,000 bots polling, waking every poll on every call (the
        # shared condition) cost the emulator O(bots) lock hand-offs per call, which Telegram
        # does not, and that made the bot tier look slower than it is.
        self._poll_wakers: dict[str, threading.Condition] = {}
        self._hook_cond = threading.Condition(self._lock)
        self._stop_event = threading.Event()
        self._httpd: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None
        self.port: int | None = None
        self.require_start = require_start
        self.strict = strict
        # The clock the 429 windows read. A test of the limit itself sets one that stands still,
        # so that what it proves does not depend on how fast this machine sends 40 requests.
        self.rate_clock = time.monotonic
        # Tests give the emulator their own "now" (a Unix time): it must judge link expiry and
        # ban ends by the same clock as the product it talks to, never by the wall clock alone.
        self._clock_start = clock_start
        self._epoch = 0
        # update ids keep growing across reset(): a running bot keeps its getUpdates offset
        self._next_update_id = 100000001
        with self._cond:
            self._init_state()

    # ------------------------------------------------------------------ lifecycle
    def _init_state(self):
        self._epoch += 1
        self._bots: dict = {}
        self._users: dict = {}
        self._chats: dict = {}
        self._boxes: dict = {}
        self._calls: list = []
        self._sent: list = []
        self._failures: list = []
        self._delays: dict = {}
        self._hooks: dict = {}
        self._rate: dict | None = None
        self._rate_bot: dict = {}
        self._rate_chat: dict = {}
        self._rate_group: dict = {}
        self._stats: Counter = Counter()
        self._by_method: Counter = Counter()
        self._files: dict = {}
        self._callbacks: dict = {}
        self._blocked: set = set()
        self._started: set = set()
        self._violations: list = []
        self._clock_offset = 0.0
        self._clock_base = time.time() if self._clock_start is None else float(self._clock_start)
        self._clock_since = time.monotonic()
        self._file_seq = 0

    def start(self, port: int = 0, host: str = "127.0.0.1") -> BotApiEmulator:
        if self._httpd is not None:
            return self
        self._stop_event.clear()
        self._httpd = EmulatorHTTPServer((host, port), self)
        self.port = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"telegram-emulator-{self.port}", daemon=True,
        )
        self._thread.start()
        self._webhooks = WebhookDelivery(self).start()
        return self

    def stop(self):
        httpd = self._httpd
        if httpd is None:
            return
        self._stop_event.set()
        self._notify()
        self._webhooks.stop()
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        """Forget all state, calls, failures, delays, rate limits, counters and clock offset."""
        with self._cond:
            self._init_state()
            self._cond.notify_all()
            self._wake_polls()
        return True

    # ------------------------------------------------------------------ clock
    def now(self) -> int:
        """The emulator's Unix time: its start (the test's "now", else the real time), plus the
        seconds that really passed since, plus :meth:`advance_clock` offsets."""
        return int(self._clock_base + time.monotonic() - self._clock_since + self._clock_offset)

    def set_clock(self, unix_time: float) -> int:
        """Make the emulator's clock read ``unix_time`` now (and run on from there)."""
        with self._cond:
            self._clock_start = float(unix_time)
            self._clock_base = float(unix_time)
            self._clock_since = time.monotonic()
            self._clock_offset = 0.0
            self._cond.notify_all()
            return self.now()

    def advance_clock(self, seconds: float) -> int:
        """Move the emulator's clock forward (link expiry, ban until_date, message dates)."""
        with self._cond:
            self._clock_offset += float(seconds)
            self._cond.notify_all()
            return self.now()

    # ------------------------------------------------------------------ helpers
    def _notify(self):
        with self._cond:
            self._cond.notify_all()
            self._wake_polls()

    def _poll_waker(self, token) -> threading.Condition:
        waker = self._poll_wakers.get(token)
        if waker is None:
            waker = self._poll_wakers[token] = threading.Condition(self._lock)
        return waker

    def _wake_polls(self, token=None):
        """Wake the long polls of one bot (all of them when ``token`` is None) and the webhook
        delivery; under the lock."""
        wakers = self._poll_wakers.values() if token is None else [self._poll_waker(token)]
        for waker in wakers:
            waker.notify_all()
        self._hook_cond.notify_all()

    def _bot(self, token) -> dict:
        bot = self._bots.get(token)
        if bot is None:
            raise KeyError(f"unknown bot token {token!r}; call add_bot() first")
        return bot

    def _user(self, user_id, create=True) -> dict:
        user_id = int(user_id)
        user = self._users.get(user_id)
        if user is None:
            if not create:
                raise KeyError(f"unknown user {user_id}")
            user = self.add_user(user_id)
        return user

    def _chat(self, chat_id) -> dict:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                uname = chat["chat"].get("username")
                if uname and uname.lower() == chat_id[1:].lower():
                    return chat
            raise KeyError(chat_id)
        return self._chats[int(chat_id)]

    def _private_chat_public(self, user: dict) -> dict:
        out = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if user.get(key):
                out[key] = user[key]
        return out

    def _box(self, key) -> dict:
        box = self._boxes.get(key)
        if box is None:
            box = self._boxes[key] = {"next": 1, "messages": {}}
        return box

    def _box_key(self, token, chat_id: int):
        if chat_id in self._chats:
            return ("chat", chat_id)
        return ("private", token, chat_id)

    def _new_message(self, box_key, sender: dict | None, chat_public: dict, **fields) -> dict:
        box = self._box(box_key)
        msg = {"message_id": box["next"]}
        box["next"] += 1
        if sender is not None:
            msg["from"] = copy.deepcopy(sender)
        elif chat_public.get("type") == "channel":
            msg["sender_chat"] = copy.deepcopy(chat_public)
        msg["chat"] = copy.deepcopy(chat_public)
        msg["date"] = self.now()
        msg.update({k: v for k, v in fields.items() if v is not None})
        box["messages"][msg["message_id"]] = msg
        return msg

    def _get_message(self, box_key, message_id):
        box = self._boxes.get(box_key)
        if not box:
            return None
        return box["messages"].get(int(message_id))

    def _wants(self, bot: dict, kind: str) -> bool:
        allowed = bot["allowed_updates"]
        if not allowed:
            return kind not in EXCLUDED_BY_DEFAULT
        return kind in allowed

    def _push_update(self, token, kind: str, payload, force=False):
        bot = self._bot(token)
        if not force and not self._wants(bot, kind):
            self._stats["updates_filtered"] += 1
            return None
        update = {"update_id": self._take_update_id(), kind: strip_private(payload),
                  "_queued_at": self.now()}
        bot["updates"].append(update)
        self._stats["updates_queued"] += 1
        self._cond.notify_all()
        self._wake_polls(token)
        return copy.deepcopy(update)

    def _take_update_id(self, wanted: int | None = None) -> int:
        if wanted is None:
            wanted = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(wanted) + 1)
        return int(wanted)

    def _status(self, chat: dict, user_id: int) -> str:
        rec = chat["members"].get(int(user_id))
        if rec is None:
            return "left"
        if rec["status"] == "kicked" and rec.get("until_date") and rec["until_date"] <= self.now():
            rec["status"] = "left"
            rec["until_date"] = 0
        return rec["status"]

    def _member_obj(self, chat: dict, user_id: int) -> dict:
        user_id = int(user_id)
        user = copy.deepcopy(self._users[user_id])
        status = self._status(chat, user_id)
        rec = chat["members"].get(user_id, {})
        out = {"status": status, "user": user}
        if status == "creator":
            out["is_anonymous"] = False
        elif status == "administrator":
            out["can_be_edited"] = False
            out["is_anonymous"] = False
            ctype = chat["chat"]["type"]
            for right, value in rec.get("rights", {}).items():
                if ctype == "channel" and right in _GROUP_ONLY:
                    continue
                if ctype != "channel" and right in _CHANNEL_ONLY:
                    continue
                if right == "can_manage_topics" and ctype != "supergroup":
                    continue
                out[right] = bool(value)
        elif status == "kicked":
            out["until_date"] = int(rec.get("until_date") or 0)
        if rec.get("custom_title") and status in ("creator", "administrator"):
            out["custom_title"] = rec["custom_title"]
        return out

    def _set_status(self, chat: dict, user_id: int, status: str, **extra) -> dict:
        user_id = int(user_id)
        rec = chat["members"].setdefault(user_id, {"status": "left"})
        rec["status"] = status
        if status not in ("administrator", "creator"):
            rec.pop("rights", None)
        if status != "kicked":
            rec["until_date"] = 0
        if status in ("left", "kicked"):
            rec["via_link"] = None
        rec.update(extra)
        return rec

    def _admin_bots(self, chat: dict):
        for token, bot in self._bots.items():
            if self._status(chat, bot["user"]["id"]) in ("creator", "administrator"):
                yield token, bot

    def _member_bots(self, chat: dict):
        for token, bot in self._bots.items():
            if self._status(chat, bot["user"]["id"]) in MEMBER_STATUSES:
                yield token, bot

    def _has_right(self, chat: dict, user_id: int, right: str) -> bool:
        status = self._status(chat, user_id)
        if status == "creator":
            return True
        if status == "administrator":
            return bool(chat["members"][int(user_id)].get("rights", {}).get(right))
        return False

    def _link_public(self, link: dict, viewer_id: int | None = None) -> dict:
        out = {
            "invite_link": link["invite_link"],
            "creator": copy.deepcopy(link["creator"]),
            "creates_join_request": link["creates_join_request"],
            "is_primary": link["is_primary"],
            "is_revoked": link["is_revoked"],
        }
        if viewer_id is not None and link["creator"]["id"] != viewer_id:
            out["invite_link"] = link["invite_link"][: len("https://t.me/+") + 4] + "..."
        for key in ("name", "expire_date", "member_limit"):
            if link.get(key):
                out[key] = link[key]
        if link["creates_join_request"]:
            out["pending_join_request_count"] = sum(
                1 for r in link["_chat"]["join_requests"].values()
                if r["link"] is link
            )
        return out

    def _member_update_payload(self, chat, actor: dict, old: dict, new: dict, link=None,
                               viewer_id=None, via_join_request=None) -> dict:
        payload = {
            "chat": copy.deepcopy(chat["chat"]),
            "from": copy.deepcopy(actor),
            "date": self.now(),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        if link is not None:
            payload["invite_link"] = self._link_public(link, viewer_id)
        if via_join_request:
            payload["via_join_request"] = True
        return payload

    def _emit_chat_member(self, chat, actor, old, new, link=None, via_join_request=None):
        """chat_member updates to admin bots that asked for them (the target itself excluded:
        a bot gets my_chat_member about itself instead)."""
        target_id = new["user"]["id"]
        for token, bot in list(self._admin_bots(chat)):
            if bot["user"]["id"] == target_id:
                continue
            if self._wants(bot, "chat_member"):
                self._push_update(token, "chat_member", self._member_update_payload(
                    chat, actor, copy.deepcopy(old), copy.deepcopy(new), link,
                    bot["user"]["id"], via_join_request))
        target_bot = self._token_of(target_id)
        if target_bot is not None:
            self._push_update(target_bot, "my_chat_member", self._member_update_payload(
                chat, actor, copy.deepcopy(old), copy.deepcopy(new)))

    def _token_of(self, user_id):
        for token, bot in self._bots.items():
            if bot["user"]["id"] == user_id:
                return token
        return None

    def _service_message(self, chat, actor, **fields):
        """new_chat_members / left_chat_member service messages go to member bots of groups."""
        if chat["chat"]["type"] not in ("group", "supergroup"):
            return
        msg = self._new_message(("chat", chat["chat"]["id"]), actor, chat["chat"], **fields)
        for token, _bot in list(self._member_bots(chat)):
            self._push_update(token, "message", msg)

    def _change_status(self, chat, user_id, status, actor, link=None, via_join_request=None,
                       **extra):
        old = self._member_obj(chat, user_id)
        self._set_status(chat, user_id, status, **extra)
        new = self._member_obj(chat, user_id)
        self._emit_chat_member(chat, actor, old, new, link, via_join_request)
        was_in = old["status"] in MEMBER_STATUSES
        now_in = new["status"] in MEMBER_STATUSES
        user = self._users[int(user_id)]
        if now_in and not was_in:
            self._service_message(chat, actor, new_chat_members=[copy.deepcopy(user)],
                                  new_chat_member=copy.deepcopy(user),
                                  new_chat_participant=copy.deepcopy(user))
        elif was_in and not now_in:
            self._service_message(chat, actor, left_chat_member=copy.deepcopy(user),
                                  left_chat_participant=copy.deepcopy(user))
        self._cond.notify_all()
        return new

    def _links_count(self, link: dict) -> int:
        chat = link["_chat"]
        return sum(
            1 for uid, rec in chat["members"].items()
            if rec.get("via_link") is link and self._status(chat, uid) in MEMBER_STATUSES
        )

    def _log_sent(self, token, method, msg):
        entry = copy.deepcopy(msg)
        entry["_method"] = method
        entry["_token"] = token
        entry["_at"] = time.time()
        self._sent.append(entry)
        self._stats["messages_sent"] += 1

    def _store_file(self, data: bytes, file_name=None, mime_type=None, kind="documents"):
        self._file_seq += 1
        file_id = f"BQACAgIAAx{secrets.token_urlsafe(24)}"
        unique = f"AgAD{secrets.token_urlsafe(8)}"
        ext = ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        rec = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_size": len(data),
            "file_path": f"{kind}/file_{self._file_seq}{ext}",
            "_bytes": data,
            "_file_name": file_name,
            "_mime_type": mime_type or (mimetypes.guess_type(file_name or "")[0]),
        }
        self._files[file_id] = rec
        return rec

    # ------------------------------------------------------------------ setup API
    def add_bot(self, token: str = "123456:TEST", username: str = "TestBot",
                first_name: str = "Test Bot", can_join_groups: bool = True,
                can_read_all_group_messages: bool = False,
                supports_inline_queries: bool = False) -> dict:
        """Register a bot; its user id is the numeric token prefix. Returns the getMe User."""
        bot_id = int(str(token).split(":", 1)[0])
        user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": can_join_groups,
            "can_read_all_group_messages": can_read_all_group_messages,
            "supports_inline_queries": supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        with self._cond:
            self._bots[token] = {
                "token": token,
                "user": user,
                "updates": [],
                "allowed_updates": None,
                "poll_gen": 0,
                "webhook_url": "",
                "webhook_secret": "",
                "commands": {},
            }
            self._wake_polls(token)  # a poll of the bot this token was is over
            self._users[bot_id] = {
                k: user[k] for k in ("id", "is_bot", "first_name", "username")
            }
            self._cond.notify_all()
            return copy.deepcopy(user)

    def add_user(self, user_id: int, first_name: str | None = None, last_name: str | None = None,
                 username: str | None = None, language_code: str | None = "en",
                 is_premium: bool | None = None) -> dict:
        user = {"id": int(user_id), "is_bot": False,
                "first_name": first_name or f"User{user_id}"}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        if is_premium:
            user["is_premium"] = True
        with self._cond:
            self._users[int(user_id)] = user
            self._cond.notify_all()
            return copy.deepcopy(user)

    def add_chat(self, chat_id: int, type: str = "supergroup", title: str | None = None,  # noqa: A002
                 username: str | None = None, description: str | None = None) -> dict:
        if type not in ("channel", "supergroup", "group", "private"):
            raise ValueError(f"bad chat type {type!r}")
        chat_id = int(chat_id)
        with self._cond:
            if type == "private":
                return self._private_chat_public(self._user(chat_id))
            public = {"id": chat_id, "type": type, "title": title or f"Chat {chat_id}"}
            if username:
                public["username"] = username
            self._chats[chat_id] = {
                "chat": public,
                "members": {},
                "links": {},
                "join_requests": {},
                "primary_link": None,
                "description": description,
            }
            self._cond.notify_all()
            return copy.deepcopy(public)

    def set_chat_admin(self, chat_id: int, user_id: int, can_invite_users: bool = True,
                       can_restrict_members: bool = True, status: str = "administrator",
                       custom_title: str | None = None, **rights) -> dict:
        """Make a user or bot creator/administrator (silently: no updates). Returns ChatMember."""
        if status not in ("administrator", "creator"):
            raise ValueError("status must be 'administrator' or 'creator'")
        with self._cond:
            chat = self._chat(chat_id)
            self._user(user_id)
            all_rights = dict(ADMIN_RIGHTS_DEFAULTS)
            all_rights.update(can_invite_users=can_invite_users,
                              can_restrict_members=can_restrict_members)
            unknown = set(rights) - set(ADMIN_RIGHTS_DEFAULTS)
            if unknown:
                raise TypeError(f"unknown admin rights {sorted(unknown)}")
            all_rights.update(rights)
            self._set_status(chat, user_id, status, rights=all_rights,
                             custom_title=custom_title)
            self._cond.notify_all()
            return self._member_obj(chat, user_id)

    def add_member(self, chat_id: int, user_id: int) -> dict:
        """Make a user (or bot) a plain member silently (no updates). Returns ChatMember."""
        with self._cond:
            chat = self._chat(chat_id)
            self._user(user_id)
            self._set_status(chat, user_id, "member")
            self._cond.notify_all()
            return self._member_obj(chat, user_id)

    def member_status(self, chat_id: int, user_id: int) -> str:
        with self._cond:
            chat = self._chats.get(int(chat_id))
            if chat is None:
                raise KeyError(f"unknown chat {chat_id}")
            return self._status(chat, int(user_id))

    def is_member(self, chat_id: int, user_id: int) -> bool:
        return self.member_status(chat_id, user_id) in MEMBER_STATUSES

    def chat_members(self, chat_id: int) -> dict:
        """{user_id: status} of everybody the chat has a record of (incl. left/kicked)."""
        with self._cond:
            chat = self._chat(chat_id)
            return {uid: self._status(chat, uid) for uid in list(chat["members"])}

    def block_bot(self, user_id: int, token: str, notify: bool = True):
        """The user blocks the bot: sends to the private chat answer 403."""
        with self._cond:
            user = self._user(user_id)
            bot = self._bot(token)
            self._blocked.add((int(user_id), token))
            if notify:
                self._push_update(token, "my_chat_member", {
                    "chat": self._private_chat_public(user), "from": copy.deepcopy(user),
                    "date": self.now(),
                    "old_chat_member": {"status": "member", "user": dict(bot["user"])},
                    "new_chat_member": {"status": "kicked", "user": dict(bot["user"]),
                                        "until_date": 0},
                })
            self._cond.notify_all()
            return True

    def unblock_bot(self, user_id: int, token: str, notify: bool = True):
        with self._cond:
            user = self._user(user_id)
            bot = self._bot(token)
            if (int(user_id), token) in self._blocked:
                self._blocked.discard((int(user_id), token))
                if notify:
                    self._push_update(token, "my_chat_member", {
                        "chat": self._private_chat_public(user), "from": copy.deepcopy(user),
                        "date": self.now(),
                        "old_chat_member": {"status": "kicked", "user": dict(bot["user"]),
                                            "until_date": 0},
                        "new_chat_member": {"status": "member", "user": dict(bot["user"])},
                    })
            self._cond.notify_all()
            return True

    # ------------------------------------------------------------------ user actions
    def _user_chat(self, token, user_id, chat_id):
        user = self._user(user_id)
        if chat_id is None or int(chat_id) == int(user_id):
            if (int(user_id), token) in self._blocked:
                self.unblock_bot(user_id, token)  # writing to a bot means "Restart"
            self._started.add((int(user_id), token))
            return user, ("private", token, int(user_id)), self._private_chat_public(user)
        chat = self._chat(chat_id)
        return user, ("chat", chat["chat"]["id"]), chat["chat"]

    @staticmethod
    def _command_entities(text: str):
        if text.startswith("/"):
            word = text.split(None, 1)[0] if text.strip() else text
            return [{"type": "bot_command", "offset": 0, "length": utf16_len(word)}]
        return None

    def send_message(self, token: str, user_id: int, text: str, chat_id: int | None = None,
                     reply_to_message_id: int | None = None, entities: list | None = None):
        """A user writes to the bot (private chat by default). Returns the queued update."""
        with self._cond:
            self._bot(token)
            user, key, chat_public = self._user_chat(token, user_id, chat_id)
            fields = {"text": text, "entities": entities or self._command_entities(text)}
            if reply_to_message_id is not None:
                replied = self._get_message(key, reply_to_message_id)
                if replied is not None:
                    fields["reply_to_message"] = strip_private(replied)
            msg = self._new_message(key, user, chat_public, **fields)
            return self._push_update(token, "message", msg)

    def send_document(self, token: str, user_id: int, content: bytes = b"data",
                      file_name: str = "file.txt", mime_type: str | None = None,
                      caption: str | None = None, chat_id: int | None = None):
        with self._cond:
            self._bot(token)
            user, key, chat_public = self._user_chat(token, user_id, chat_id)
            rec = self._store_file(bytes(content), file_name, mime_type)
            doc = {"file_name": file_name, "mime_type": rec["_mime_type"],
                   "file_id": rec["file_id"], "file_unique_id": rec["file_unique_id"],
                   "file_size": rec["file_size"]}
            msg = self._new_message(key, user, chat_public, document=doc, caption=caption)
            return self._push_update(token, "message", msg)

    def send_photo(self, token: str, user_id: int, content: bytes = b"\x89PNG",
                   caption: str | None = None, chat_id: int | None = None,
                   width: int = 320, height: int = 240):
        with self._cond:
            self._bot(token)
            user, key, chat_public = self._user_chat(token, user_id, chat_id)
            rec = self._store_file(bytes(content), "photo.jpg", "image/jpeg", kind="photos")
            photo = [{"file_id": rec["file_id"], "file_unique_id": rec["file_unique_id"],
                      "file_size": rec["file_size"], "width": width, "height": height}]
            msg = self._new_message(key, user, chat_public, photo=photo, caption=caption)
            return self._push_update(token, "message", msg)

    def edit_message(self, token: str, user_id: int, message_id: int, text: str,
                     chat_id: int | None = None):
        """The user edits one of their own messages: an edited_message update."""
        with self._cond:
            self._bot(token)
            user, key, _chat = self._user_chat(token, user_id, chat_id)
            msg = self._get_message(key, message_id)
            if msg is None or msg.get("from", {}).get("id") != int(user_id):
                raise KeyError(f"user {user_id} has no message {message_id} in that chat")
            msg["text"] = text
            msg["edit_date"] = self.now()
            ents = self._command_entities(text)
            if ents:
                msg["entities"] = ents
            else:
                msg.pop("entities", None)
            return self._push_update(token, "edited_message", msg)

    @staticmethod
    def _buttons(markup):
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard") or []:
            yield from row

    def press_button(self, token: str, user_id: int, message_id: int, data: str,
                     chat_id: int | None = None, check: bool = True):
        """The user presses an inline button of a bot message: a callback_query update.

        With check=True (default) the message must be the bot's and carry a button whose
        callback_data equals ``data`` (as a real client could only press existing buttons).
        """
        with self._cond:
            bot = self._bot(token)
            user = self._user(user_id)
            if chat_id is None:
                key = ("private", token, int(user_id))
            else:
                key = self._box_key(token, int(chat_id))
            msg = self._get_message(key, message_id)
            if msg is None:
                raise KeyError(f"no message {message_id} in chat {chat_id or user_id}")
            if check:
                if msg.get("from", {}).get("id") != bot["user"]["id"]:
                    raise ValueError(f"message {message_id} was not sent by this bot")
                datas = [b.get("callback_data") for b in self._buttons(msg.get("reply_markup"))]
                if data not in datas:
                    raise ValueError(
                        f"message {message_id} has no button with callback_data {data!r}; "
                        f"buttons: {datas}")
            query_id = str(secrets.randbits(62))
            chat_ref = msg["chat"]["id"]
            instance = str(zlib.crc32(f"{token}:{chat_ref}".encode()) * 1000003 + 7)
            self._callbacks[query_id] = {"token": token, "answered": False, "answer": None}
            return self._push_update(token, "callback_query", {
                "id": query_id,
                "from": copy.deepcopy(user),
                "message": msg,
                "chat_instance": instance,
                "data": data,
            })

    def inject_update(self, token: str, update: dict):
        """Queue a raw update (allowed_updates not applied); update_id filled in if missing."""
        with self._cond:
            bot = self._bot(token)
            update = copy.deepcopy(update)
            update["update_id"] = self._take_update_id(update.get("update_id"))
            update["_queued_at"] = self.now()
            bot["updates"].append(update)
            self._stats["updates_queued"] += 1
            self._cond.notify_all()
            self._wake_polls(token)
            return copy.deepcopy(update)

    def _bot_status_change(self, token, chat_id, by_user_id, status, rights=None):
        with self._cond:
            bot = self._bot(token)
            chat = self._chat(chat_id)
            actor = self._user(by_user_id)
            bot_id = bot["user"]["id"]
            old = self._member_obj(chat, bot_id)
            extra = {}
            if rights is not None:
                extra["rights"] = rights
            self._set_status(chat, bot_id, status, **extra)
            new = self._member_obj(chat, bot_id)
            self._emit_chat_member(chat, actor, old, new)
            update = None
            for upd in reversed(bot["updates"]):
                if "my_chat_member" in upd:
                    update = copy.deepcopy(upd)
                    break
            self._cond.notify_all()
            return update

    def bot_added_as_admin(self, token: str, chat_id: int, by_user_id: int,
                           can_invite_users: bool = True, can_restrict_members: bool = True,
                           **rights):
        """A user promotes the bot to administrator: state + my_chat_member update."""
        all_rights = dict(ADMIN_RIGHTS_DEFAULTS)
        all_rights.update(can_invite_users=can_invite_users,
                          can_restrict_members=can_restrict_members, **rights)
        return self._bot_status_change(token, chat_id, by_user_id, "administrator", all_rights)

    def bot_removed(self, token: str, chat_id: int, by_user_id: int, status: str | None = None):
        """The bot is removed: 'kicked' in supergroups/channels, 'left' in basic groups."""
        with self._cond:
            chat = self._chat(chat_id)
            if status is None:
                status = "left" if chat["chat"]["type"] == "group" else "kicked"
            return self._bot_status_change(token, chat_id, by_user_id, status)

    def bot_demoted(self, token: str, chat_id: int, by_user_id: int):
        """Administrator bot becomes a plain member."""
        return self._bot_status_change(token, chat_id, by_user_id, "member")

    @staticmethod
    def _norm_link(link: str) -> str:
        link = link.strip()
        for prefix in ("https://", "http://"):
            if link.startswith(prefix):
                link = link[len(prefix):]
        link = link.replace("telegram.me/", "t.me/").replace("t.me/joinchat/", "t.me/+")
        return "https://" + link

    def open_invite_link(self, user_id: int, invite_link: str) -> str:
        """A user opens an invite link: 'joined', 'requested' or 'refused:<reason>'.

        Reasons: invalid, revoked, expired, banned, already_member, limit_reached,
        already_requested.
        """
        with self._cond:
            user = self._user(user_id)
            wanted = self._norm_link(invite_link)
            link = None
            for chat in self._chats.values():
                link = chat["links"].get(wanted)
                if link:
                    break
            if link is None:
                result = "refused:invalid"
            elif link["is_revoked"]:
                result = "refused:revoked"
            elif link.get("expire_date") and link["expire_date"] <= self.now():
                result = "refused:expired"
            else:
                chat = link["_chat"]
                status = self._status(chat, user["id"])
                if status == "kicked":
                    result = "refused:banned"
                elif status in MEMBER_STATUSES:
                    result = "refused:already_member"
                elif link["creates_join_request"]:
                    if user["id"] in chat["join_requests"]:
                        result = "refused:already_requested"
                    else:
                        chat["join_requests"][user["id"]] = {"link": link, "date": self.now()}
                        payload = {
                            "chat": copy.deepcopy(chat["chat"]),
                            "from": copy.deepcopy(user),
                            "user_chat_id": user["id"],
                            "date": self.now(),
                        }
                        for token, bot in list(self._admin_bots(chat)):
                            if self._has_right(chat, bot["user"]["id"], "can_invite_users"):
                                payload["invite_link"] = self._link_public(link, bot["user"]["id"])
                                self._push_update(token, "chat_join_request", payload)
                        result = "requested"
                elif link.get("member_limit") and self._links_count(link) >= link["member_limit"]:
                    result = "refused:limit_reached"
                else:
                    self._change_status(chat, user["id"], "member", user, link=link,
                                        via_link=link)
                    result = "joined"
            self._stats["invite_link_" + result.split(":")[0]] += 1
            self._cond.notify_all()
            return result

    def user_leaves(self, chat_id: int, user_id: int):
        with self._cond:
            chat = self._chat(chat_id)
            user = self._user(user_id)
            if self._status(chat, user["id"]) in MEMBER_STATUSES:
                self._change_status(chat, user["id"], "left", user)
            return True

    # ------------------------------------------------------------------ inspection
    def calls(self, token: str | None = None, method: str | None = None) -> list:
        with self._cond:
            out = []
            for call in self._calls:
                if token is not None and call["token"] != token:
                    continue
                if method is not None and call["method"].lower() != method.lower():
                    continue
                out.append(copy.deepcopy(call))
            return out

    def sent_messages(self, token: str | None = None, chat_id: int | str | None = None,
                      since: float | None = None) -> list:
        """Messages the bot sent or edited, in order; private keys: _method, _token, _at,
        _file_bytes (documents/photos, also inside "document"), _source_text, _parse_mode."""
        with self._cond:
            if chat_id is not None and isinstance(chat_id, str) and chat_id.startswith("@"):
                chat_id = self._chat(chat_id)["chat"]["id"]
            out = []
            for msg in self._sent:
                if token is not None and msg["_token"] != token:
                    continue
                if chat_id is not None and msg["chat"]["id"] != int(chat_id):
                    continue
                if since is not None and msg["_at"] < since:
                    continue
                out.append(copy.deepcopy(msg))
            return out

    def invite_links(self, chat_id: int) -> list:
        with self._cond:
            chat = self._chat(chat_id)
            out = []
            for link in chat["links"].values():
                pub = self._link_public(link)
                pub["_members_via_link"] = self._links_count(link)
                out.append(pub)
            return out

    def join_requests(self, chat_id: int) -> list:
        with self._cond:
            chat = self._chat(chat_id)
            return [{"user_id": uid, "date": r["date"], "invite_link": r["link"]["invite_link"]}
                    for uid, r in chat["join_requests"].items()]

    def pending_updates(self, token: str) -> list:
        """Updates queued for the bot and not yet confirmed by a getUpdates offset (and not yet
        older than Telegram keeps them)."""
        with self._cond:
            bot = self._bot(token)
            self._drop_stale_updates(bot)
            return strip_private(bot["updates"])

    def _drop_stale_updates(self, bot: dict) -> None:
        oldest = self.now() - UPDATE_RETENTION_SECONDS
        kept = [u for u in bot["updates"] if u.get("_queued_at", oldest) > oldest]
        self._stats["updates_expired"] += len(bot["updates"]) - len(kept)
        bot["updates"] = kept

    def spec_violations(self) -> list:
        """Calls refused because the Bot API specification does not allow them."""
        with self._cond:
            return copy.deepcopy(self._violations)

    def start_bot(self, user_id: int, token: str) -> bool:
        """The user opened the bot and pressed START without the emulator seeing a message
        (e.g. long before the test): the bot may message them."""
        with self._cond:
            self._user(user_id)
            self._bot(token)
            self._started.add((int(user_id), token))
            return True

    def user_creates_link(self, chat_id: int, user_id: int, creates_join_request: bool = False,
                          name: str | None = None, member_limit: int | None = None) -> str:
        """An administrator (a person, e.g. the owner) makes an invite link in the app."""
        with self._cond:
            chat = self._chat(chat_id)
            if self._status(chat, user_id) not in ("creator", "administrator"):
                raise ValueError(f"user {user_id} is not an administrator of {chat_id}")
            link = {"invite_link": self._new_link_url(),
                    "creator": copy.deepcopy(self._users[int(user_id)]),
                    "is_primary": False, "is_revoked": False, "_chat": chat,
                    "_created": self.now(), "name": name, "expire_date": None,
                    "member_limit": None if creates_join_request else member_limit,
                    "creates_join_request": bool(creates_join_request)}
            chat["links"][link["invite_link"]] = link
            return link["invite_link"]

    def set_webhook(self, token: str, url: str) -> bool:
        """A webhook left on the token by another platform (getUpdates then answers 409)."""
        with self._cond:
            self._bot(token)["webhook_url"] = url
            self._cond.notify_all()
            return True

    def upgrade_to_supergroup(self, chat_id: int, new_chat_id: int | None = None,
                              by_user_id: int | None = None) -> dict:
        """The owner upgrades a basic group: it becomes a supergroup with a new id.

        Members, admins (rights kept) and invite links move to the new chat; calls on the old id
        answer 400 with ``parameters.migrate_to_chat_id``; member bots get the
        ``migrate_to_chat_id`` service message in the old chat and ``migrate_from_chat_id`` in
        the new one. Returns the new chat.
        """
        with self._cond:
            old = self._chat(chat_id)
            if old["chat"]["type"] != "group":
                raise ValueError("only basic groups are upgraded")
            if new_chat_id is None:
                new_chat_id = -1000000000000 - abs(int(chat_id))
            new_chat_id = int(new_chat_id)
            if new_chat_id in self._chats:
                raise ValueError(f"chat {new_chat_id} exists")
            actor = self._user(by_user_id) if by_user_id is not None else None
            public = dict(old["chat"], id=new_chat_id, type="supergroup")
            new = {"chat": public, "members": old["members"], "links": old["links"],
                   "join_requests": old["join_requests"], "primary_link": old["primary_link"],
                   "description": old["description"]}
            for link in new["links"].values():
                link["_chat"] = new
            self._chats[new_chat_id] = new
            old["members"] = {uid: dict(rec) for uid, rec in new["members"].items()}
            old["links"], old["join_requests"], old["primary_link"] = {}, {}, None
            old["_migrated_to"] = new_chat_id
            sender = actor or self._users[next(iter(self._bots.values()))["user"]["id"]]
            for token, _bot in list(self._member_bots(new)):
                msg = self._new_message(("chat", int(chat_id)), sender, old["chat"],
                                        migrate_to_chat_id=new_chat_id)
                self._push_update(token, "message", msg)
                msg = self._new_message(("chat", new_chat_id), None, public,
                                        migrate_from_chat_id=int(chat_id))
                msg["sender_chat"] = copy.deepcopy(old["chat"])
                self._push_update(token, "message", msg)
            self._cond.notify_all()
            return copy.deepcopy(public)

    def callback_answers(self, token: str | None = None) -> dict:
        with self._cond:
            return {qid: copy.deepcopy(rec) for qid, rec in self._callbacks.items()
                    if token is None or rec["token"] == token}

    def stats(self) -> dict:
        with self._cond:
            out = dict(self._stats)
            for key in ("calls", "rate_limited", "injected_failures", "errors",
                        "updates_queued", "messages_sent"):
                out.setdefault(key, 0)
            out["by_method"] = dict(self._by_method)
            return out

    def wait_for(self, predicate, timeout: float = 10, description: str | None = None):
        """Block until predicate(emu) is truthy (re-checked on every call/state change)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(predicate, timeout, description))
                self._cond.wait(min(remaining, 0.5))

    def _timeout_message(self, predicate, timeout, description):
        what = description or getattr(predicate, "__name__", repr(predicate))
        calls = ", ".join(
            f"{c['method']}->{c['status']}" for c in self._calls[-15:]
        ) or "none"
        sent = "; ".join(
            f"[{m['chat']['id']}] {str(m.get('text', m.get('caption', '')))[:60]!r}"
            for m in self._sent[-8:]
        ) or "none"
        return (f"wait_for timed out after {timeout}s waiting for {what}. "
                f"Last API calls: {calls}. Last sent messages: {sent}.")

    def wait_for_message(self, token: str, chat_id: int, contains: str | None = None,
                         timeout: float = 10, since: float | None = None) -> dict:
        """First message the bot sent to chat_id (after ``since``) whose text/caption
        contains ``contains``."""
        def find(emu):
            for msg in emu.sent_messages(token, chat_id, since=since):
                body = msg.get("text") or msg.get("caption") or ""
                if contains is None or contains in body:
                    return msg
            return None
        return self.wait_for(
            find, timeout,
            description=f"a message to chat {chat_id} containing {contains!r}")

    # ------------------------------------------------------------------ fault injection
    def fail_next(self, method: str, error_code: int = 500,
                  description: str = "Internal Server Error", retry_after: int | None = None,
                  times: int = 1, token: str | None = None, disconnect: bool = False,
                  after: bool = False, html: bool | None = None):
        """The next ``times`` calls of ``method`` (optionally only for ``token``) fail.

        With error_code 429 and the default description, the description becomes
        "Too Many Requests: retry after N". ``disconnect=True`` drops the connection instead
        of answering (a network error for the client); with ``after=True`` the call is carried
        out first and only the answer is lost (a timeout after Telegram did it). 502–504 answer
        with an HTML page, as Telegram's front servers do (``html`` overrides).
        """
        if error_code == 429 and description == "Internal Server Error":
            description = f"Too Many Requests: retry after {retry_after or 1}"
            if retry_after is None:
                retry_after = 1
        with self._cond:
            self._failures.append({
                "method": method.lower(), "error_code": int(error_code),
                "description": description, "retry_after": retry_after,
                "times": int(times), "token": token, "disconnect": bool(disconnect),
                "after": bool(after),
                "html": (500 < int(error_code) < 505) if html is None else bool(html),
            })
            self._cond.notify_all()
            return True

    def clear_failures(self):
        with self._cond:
            self._failures.clear()
            return True

    def set_delay(self, method: str, seconds: float):
        """Delay before answering ``method`` (0 removes it). The delay holds no lock."""
        with self._cond:
            if seconds:
                self._delays[method.lower()] = float(seconds)
            else:
                self._delays.pop(method.lower(), None)
            return True

    def before_answering(self, method: str, hook=None):
        """Run ``hook(params)`` (in-process tests only) each time ``method`` is called, before it
        is carried out and answered, holding no lock: a test interleaves its own step (a
        rollback, say) at exactly that point of the caller's work. ``None`` removes it."""
        with self._cond:
            if hook is None:
                self._hooks.pop(method.lower(), None)
            else:
                self._hooks[method.lower()] = hook
            return True

    def set_rate_limit(self, per_bot_per_second: int | None = 30,
                       per_chat_per_second: int | None = 1,
                       per_group_per_minute: int | None = None):
        """Enable 429s on message-sending methods (sliding windows). All None disables."""
        with self._cond:
            if per_bot_per_second is None and per_chat_per_second is None \
                    and per_group_per_minute is None:
                self._rate = None
            else:
                self._rate = {"bot": per_bot_per_second, "chat": per_chat_per_second,
                              "group_minute": per_group_per_minute}
            self._rate_bot.clear()
            self._rate_chat.clear()
            self._rate_group.clear()
            return True

    def _check_rate(self, token, params: Params):
        rate = self._rate
        if not rate:
            return
        now = self.rate_clock()
        try:
            chat_ref = params.chat_id()
        except ApiError:
            chat_ref = None
        if isinstance(chat_ref, str):
            with contextlib.suppress(KeyError):
                chat_ref = self._chat(chat_ref)["chat"]["id"]
        windows = []
        if rate.get("bot"):
            windows.append((self._rate_bot.setdefault(token, deque()), rate["bot"], 1.0))
        if rate.get("chat") and chat_ref is not None:
            windows.append((self._rate_chat.setdefault((token, chat_ref), deque()),
                            rate["chat"], 1.0))
        chat = self._chats.get(chat_ref) if isinstance(chat_ref, int) else None
        if rate.get("group_minute") and chat and chat["chat"]["type"] in ("group", "supergroup"):
            windows.append((self._rate_group.setdefault((token, chat_ref), deque()),
                            rate["group_minute"], 60.0))
        wait = 0.0
        for window, limit, span in windows:
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= limit:
                wait = max(wait, window[len(window) - limit] + span - now)
        if wait > 0:
            self._stats["rate_limited"] += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}",
                           {"retry_after": retry_after})
        for window, _limit, _span in windows:
            window.append(now)

    # ------------------------------------------------------------------ HTTP entry points
    def _take_failure(self, token, method_l):
        for rule in self._failures:
            if rule["method"] != method_l:
                continue
            if rule["token"] is not None and rule["token"] != token:
                continue
            rule["times"] -= 1
            if rule["times"] <= 0:
                self._failures.remove(rule)
            return rule
        return None

    def _handle_api(self, token, method, raw_params, files, file_names):
        """Returns (http_status, payload, disconnect); a ``str`` payload is an HTML page."""
        method_l = method.lower()
        call = {
            "token": token, "method": method, "params": decode_params(raw_params),
            "files": dict(files), "file_names": dict(file_names), "at": time.time(),
            "status": None,
        }
        with self._cond:
            self._calls.append(call)
            self._stats["calls"] += 1
            self._by_method[method] += 1
            self._cond.notify_all()
            bot = self._bots.get(token)
            rule = self._take_failure(token, method_l) if bot is not None else None
            delay = self._delays.get(method_l, 0)
            hook = self._hooks.get(method_l)
        try:
            if bot is None:
                raise ApiError(401, "Unauthorized")
            if self.strict:
                problems = check_call(method, raw_params, files)
                if problems:
                    with self._cond:
                        self._violations.append({"method": method, "problems": problems,
                                                 "params": decode_params(raw_params)})
                    if method_spec(method) is None:
                        raise ApiError(404, "Not Found")  # what Telegram answers
                    raise ApiError(400, "Bad Request: emulator: not in the Bot API "
                                   "specification: " + "; ".join(problems))
            if rule is not None and not rule["after"]:
                self._stats["injected_failures"] += 1
                if rule["disconnect"]:
                    call["status"] = 0
                    return 0, None, True
                if rule["html"]:
                    call["status"] = rule["error_code"]
                    return rule["error_code"], _html_error(rule["error_code"]), False
                params = {"retry_after": rule["retry_after"]} if rule["retry_after"] else None
                raise ApiError(rule["error_code"], rule["description"], params)
            if delay:
                self._stop_event.wait(delay)
            if hook is not None and bot is not None:
                hook(decode_params(raw_params))
            handler = getattr(self, "_api_" + method_l, None)
            if handler is None or not method:
                raise ApiError(404, "Not Found")
            params = Params(raw_params)
            with self._cond:
                if self._bots.get(token) is not bot:
                    raise ApiError(401, "Unauthorized")
                if method_l in SEND_METHODS:
                    self._check_rate(token, params)
                result = handler(bot, params, files, file_names)
            if rule is not None:  # done, but the answer is lost on the way
                self._stats["injected_failures"] += 1
                call["status"] = 0
                return 0, None, True
            status, payload = 200, {"ok": True, "result": result}
        except ApiError as err:
            status, payload = err.error_code, err.payload()
        except Exception as exc:  # emulator bug: make it visible
            traceback.print_exc(file=sys.stderr)
            status, payload = 500, {"ok": False, "error_code": 500,
                                    "description": f"Internal Server Error: emulator bug: {exc!r}"}
        with self._cond:
            call["status"] = status
            if status != 200:
                self._stats["errors"] += 1
            self._cond.notify_all()
        return status, payload, False

    def _download(self, token, file_path):
        with self._cond:
            if token not in self._bots:
                return None
            for rec in self._files.values():
                if rec["file_path"] == file_path:
                    return rec["_bytes"]
            return None

    def _handle_control(self, action, params, files):
        if action not in self.CONTROL_ACTIONS:
            return 404, {"ok": False, "error": f"unknown action {action!r}"}
        kwargs = dict(params)
        for key in list(kwargs):
            if key.endswith("_b64"):
                kwargs[key[:-4]] = base64.b64decode(kwargs.pop(key))
        kwargs.update(files)
        try:
            result = getattr(self, action)(**kwargs)
        except (KeyError, ValueError, TypeError, TimeoutError) as exc:
            return 400, {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return 200, {"ok": True, "result": jsonable(result)}


def _html_error(status: int) -> str:
    """What Telegram's front servers answer while the Bot API behind them is down."""
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable",
              504: "Gateway Time-out"}.get(status, "Internal Server Error")
    return (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0"
            "</center>\r\n</body>\r\n</html>\r\n")
