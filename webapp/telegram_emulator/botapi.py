"""Bot API methods. Each ``_api_<lowercased method>`` runs with the emulator lock held and
returns the JSON ``result`` or raises :class:`ApiError`."""

from __future__ import annotations

import copy
import re
import secrets
import time
from urllib.parse import urlsplit

from .formatting import render
from .params import ApiError, bad_request, strip_private
from .webhooks import read_webhook_settings

SEND_METHODS = frozenset({
    "sendmessage", "senddocument", "sendphoto", "sendvideo", "sendaudio", "sendvoice",
    "sendanimation", "sendsticker", "sendmediagroup", "sendlocation", "sendcontact",
    "sendpoll", "senddice", "sendvenue", "sendvideonote", "copymessage", "forwardmessage",
    "copymessages", "forwardmessages", "sendinvoice", "sendgame", "sendpaidmedia",
})
#: a join request's user_chat_id may be messaged until it is processed, for at most this long
JOIN_REQUEST_MESSAGE_WINDOW = 5 * 60
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_KIND = {"group": "group", "supergroup": "supergroup", "channel": "channel"}
_CONFLICT_POLL = ("Conflict: terminated by other getUpdates request; "
                  "make sure that only one bot instance is running")
_CONFLICT_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active; "
                     "use deleteWebhook to delete the webhook first")
_NOT_MODIFIED = ("message is not modified: specified new message content and reply markup "
                 "are exactly the same as a current content and reply markup of the message")


def _forbidden(text):
    return ApiError(403, f"Forbidden: {text}")


class BotApiMethods:
    """Mixin for :class:`BotApiEmulator`: the Bot API surface."""

    # ------------------------------------------------------------------ resolution helpers
    def _resolve_chat(self, bot, chat_ref):
        """(chat record or None, box key, chat public dict). Private chats: record None."""
        try:
            chat = self._chat(chat_ref)
        except (KeyError, ValueError):
            chat = None
        if chat is not None and chat.get("_migrated_to"):
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                           {"migrate_to_chat_id": chat["_migrated_to"]})
        if chat is not None:
            return chat, ("chat", chat["chat"]["id"]), chat["chat"]
        if isinstance(chat_ref, int) and chat_ref in self._users:
            user = self._users[chat_ref]
            return None, ("private", bot["token"], chat_ref), self._private_chat_public(user)
        raise bad_request("chat not found")

    def _require_in_chat(self, bot, chat):
        status = self._status(chat, bot["user"]["id"])
        kind = _KIND[chat["chat"]["type"]]
        if status == "kicked":
            raise _forbidden(f"bot was kicked from the {kind} chat")
        if status not in ("creator", "administrator", "member"):
            raise _forbidden(f"bot is not a member of the {kind} chat")
        return status

    def _require_right(self, bot, chat, right, what):
        if chat is None:
            raise bad_request("method is available for supergroup and channel chats only")
        self._require_in_chat(bot, chat)
        if not self._has_right(chat, bot["user"]["id"], right):
            raise bad_request(f"not enough rights to {what}")

    def _send_target(self, bot, p):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        if chat is None:
            uid = public["id"]
            if self._users[uid].get("is_bot"):
                raise _forbidden("bot can't send messages to bots")
            if (uid, bot["token"]) in self._blocked:
                raise _forbidden("bot was blocked by the user")
            if self.require_start and (uid, bot["token"]) not in self._started \
                    and not self._awaits_decision(bot, uid):
                raise _forbidden("bot can't initiate conversation with a user")
        else:
            status = self._require_in_chat(bot, chat)
            if chat["chat"]["type"] == "channel" and not (
                    status == "creator"
                    or self._has_right(chat, bot["user"]["id"], "can_post_messages")):
                raise bad_request("need administrator rights in the channel chat")
        return chat, key, public

    def _awaits_decision(self, bot, user_id):
        """A join request of this user waits in a chat the bot administers (and is recent)."""
        for chat in self._chats.values():
            request = chat["join_requests"].get(user_id)
            if request is None or self.now() - request["date"] > JOIN_REQUEST_MESSAGE_WINDOW:
                continue
            if self._status(chat, bot["user"]["id"]) in ("creator", "administrator"):
                return True
        return False

    def _edit_target(self, bot, p):
        if "inline_message_id" in p and "chat_id" not in p:
            raise bad_request("MESSAGE_ID_INVALID")
        chat, key, _public = self._resolve_chat(bot, p.chat_id())
        if chat is not None:
            self._require_in_chat(bot, chat)
        msg = self._get_message(key, p.int("message_id", required=True))
        return chat, key, msg

    def _markup(self, p):
        markup = p.json("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup "
                                  "must be an Array of Arrays")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise bad_request("BUTTON_TEXT_INVALID")
                    if "callback_data" in button:
                        data = str(button["callback_data"]).encode("utf-8")
                        if not 1 <= len(data) <= 64:
                            raise bad_request("BUTTON_DATA_INVALID")
                    if "url" in button:
                        scheme = urlsplit(str(button["url"])).scheme
                        if scheme not in ("http", "https", "tg"):
                            raise bad_request("BUTTON_URL_INVALID")
        return markup

    def _reply_to(self, key, p):
        ref = None
        params = p.json("reply_parameters")
        if isinstance(params, dict):
            ref = params.get("message_id")
        if ref is None:
            ref = p.int("reply_to_message_id")
        if ref is None:
            return None
        msg = self._get_message(key, ref)
        if msg is None:
            allow = p.bool("allow_sending_without_reply") or (
                isinstance(params, dict) and params.get("allow_sending_without_reply"))
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return copy.deepcopy(msg)

    def _render(self, text, p, entities_param):
        if entities_param in p:
            return text, p.json(entities_param) or None
        try:
            return render(text, p.str("parse_mode"))
        except ValueError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None

    # ------------------------------------------------------------------ bot & updates
    def _api_getme(self, bot, p, files, names):
        return copy.deepcopy(bot["user"])

    def _api_logout(self, bot, p, files, names):
        return True

    def _api_close(self, bot, p, files, names):
        return True

    def _confirm(self, bot, offset):
        if offset is None:
            return
        if offset < 0:
            keep = -offset
            bot["updates"] = bot["updates"][-keep:] if keep else []
        else:
            bot["updates"] = [u for u in bot["updates"] if u["update_id"] >= offset]

    def _api_getupdates(self, bot, p, files, names):
        if bot["webhook_url"]:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        self._drop_stale_updates(bot)
        offset = p.int("offset")
        limit = max(1, min(100, p.int("limit", 100)))
        timeout = max(0, min(50, p.int("timeout", 0)))
        if "allowed_updates" in p:
            allowed = p.json("allowed_updates")
            if not isinstance(allowed, list):
                raise bad_request("can't parse allowed_updates JSON array")
            bot["allowed_updates"] = [str(a) for a in allowed]
        self._confirm(bot, offset)
        bot["poll_gen"] += 1
        generation = bot["poll_gen"]
        epoch = self._epoch
        deadline = time.monotonic() + timeout
        self._cond.notify_all()
        self._wake_polls(bot["token"])  # the poll this one replaces ends with a conflict
        waker = self._poll_waker(bot["token"])
        while True:
            if self._epoch != epoch or self._bots.get(bot["token"]) is not bot:
                return []  # reset() while polling: the next poll sees the new state
            if bot["poll_gen"] != generation:
                raise ApiError(409, _CONFLICT_POLL)
            if bot["updates"]:
                return strip_private(bot["updates"][:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop_event.is_set():
                return []
            waker.wait(remaining)

    def _api_setwebhook(self, bot, p, files, names):
        bot.update(read_webhook_settings(p))
        if "allowed_updates" in p:
            bot["allowed_updates"] = p.json("allowed_updates")
        if p.bool("drop_pending_updates"):
            bot["updates"] = []
        return True

    def _api_deletewebhook(self, bot, p, files, names):
        bot["webhook_url"] = bot["webhook_secret"] = ""
        if p.bool("drop_pending_updates"):
            bot["updates"] = []
        return True

    def _api_getwebhookinfo(self, bot, p, files, names):
        info = {"url": bot["webhook_url"], "has_custom_certificate": False,
                "pending_update_count": len(bot["updates"])}
        if bot["allowed_updates"]:
            info["allowed_updates"] = list(bot["allowed_updates"])
        if bot["webhook_url"]:
            info["max_connections"] = bot.get("webhook_max_connections")
            if bot.get("webhook_last_error_date"):
                info["last_error_date"] = bot["webhook_last_error_date"]
                info["last_error_message"] = bot["webhook_last_error_message"]
        return info

    @staticmethod
    def _commands_key(p):
        scope = p.json("scope") or {"type": "default"}
        return (repr(sorted(scope.items())) if isinstance(scope, dict) else repr(scope),
                p.str("language_code", ""))

    def _api_setmycommands(self, bot, p, files, names):
        commands = p.json("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON array")
        if len(commands) > 100:
            raise bad_request("too many commands")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_RE.match(str(cmd.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise bad_request("command description is empty" if not cmd.get("description")
                                  else "BOT_COMMAND_DESCRIPTION_INVALID")
        bot["commands"][self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _api_getmycommands(self, bot, p, files, names):
        return copy.deepcopy(bot["commands"].get(self._commands_key(p), []))

    def _api_deletemycommands(self, bot, p, files, names):
        bot["commands"].pop(self._commands_key(p), None)
        return True

    # ------------------------------------------------------------------ messages
    def _api_sendchataction(self, bot, p, files, names):
        self._send_target(bot, p)
        return True

    def _api_sendmessage(self, bot, p, files, names):
        chat, key, public = self._send_target(bot, p)
        source = p.str("text", "")
        if not source.strip():
            raise bad_request("message text is empty")
        text, entities = self._render(source, p, "entities")
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > 4096:
            raise bad_request("message is too long")
        markup = self._markup(p)
        reply = self._reply_to(key, p)
        sender = self._users[bot["user"]["id"]] if public["type"] != "channel" else None
        msg = self._new_message(key, sender, public,
                                reply_to_message=reply, text=text, entities=entities,
                                reply_markup=markup)
        msg["_source_text"] = source
        msg["_parse_mode"] = p.str("parse_mode")
        self._log_sent(bot["token"], "sendMessage", msg)
        return self._public(msg)

    def _public(self, msg):
        return strip_private(msg)

    def _file_param(self, field, p, files, names):
        """(bytes, file_name, existing file record) for an uploaded or referenced file."""
        if field in files:
            data = files[field]
            if not data:
                raise bad_request("file must be non-empty")
            return data, names.get(field) or field, None
        ref = p.str(field)
        if not ref:
            raise bad_request(f"there is no {field} in the request")
        if ref.startswith(("http://", "https://")):
            name = urlsplit(ref).path.rsplit("/", 1)[-1] or field
            return b"", name, {"_url": ref}
        if ref.startswith("attach://"):
            attached = ref[len("attach://"):]
            if attached not in files:
                raise bad_request(f"there is no {field} in the request")
            return files[attached], names.get(attached) or attached, None
        rec = self._files.get(ref)
        if rec is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return rec["_bytes"], rec.get("_file_name"), rec

    def _caption(self, p):
        source = p.str("caption")
        if source is None:
            return None, None, None
        caption, entities = self._render(source, p, "caption_entities")
        if len(caption) > 1024:
            raise bad_request("message caption is too long")
        return source, caption or None, entities

    def _api_senddocument(self, bot, p, files, names):
        chat, key, public = self._send_target(bot, p)
        data, file_name, existing = self._file_param("document", p, files, names)
        source, caption, entities = self._caption(p)
        if existing is not None and "file_id" in existing:
            rec = existing
        else:
            rec = self._store_file(data, file_name)
            if existing:
                rec["_url"] = existing.get("_url")
        document = {"file_name": file_name, "mime_type": rec["_mime_type"] or
                    "application/octet-stream", "file_id": rec["file_id"],
                    "file_unique_id": rec["file_unique_id"], "file_size": len(data),
                    "_file_bytes": data}
        sender = self._users[bot["user"]["id"]] if public["type"] != "channel" else None
        msg = self._new_message(key, sender, public, reply_to_message=self._reply_to(key, p),
                                document=document, caption=caption,
                                caption_entities=entities, reply_markup=self._markup(p))
        msg["_file_bytes"] = data
        msg["_file_name"] = file_name
        msg["_source_caption"] = source
        self._log_sent(bot["token"], "sendDocument", msg)
        return self._public(msg)

    @staticmethod
    def _image_size(data: bytes):
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    break
                marker, seg = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
                if marker in (0xC0, 0xC1, 0xC2):
                    return (int.from_bytes(data[i + 7:i + 9], "big"),
                            int.from_bytes(data[i + 5:i + 7], "big"))
                i += 2 + seg
        return 320, 320

    def _api_sendphoto(self, bot, p, files, names):
        chat, key, public = self._send_target(bot, p)
        data, file_name, existing = self._file_param("photo", p, files, names)
        source, caption, entities = self._caption(p)
        if existing is not None and "file_id" in existing:
            rec = existing
        else:
            rec = self._store_file(data, file_name, kind="photos")
        width, height = self._image_size(data)
        photo = [{"file_id": rec["file_id"], "file_unique_id": rec["file_unique_id"],
                  "file_size": len(data), "width": width, "height": height}]
        sender = self._users[bot["user"]["id"]] if public["type"] != "channel" else None
        msg = self._new_message(key, sender, public, reply_to_message=self._reply_to(key, p),
                                photo=photo, caption=caption, caption_entities=entities,
                                reply_markup=self._markup(p))
        msg["_file_bytes"] = data
        msg["_file_name"] = file_name
        msg["_source_caption"] = source
        self._log_sent(bot["token"], "sendPhoto", msg)
        return self._public(msg)

    def _api_getfile(self, bot, p, files, names):
        rec = self._files.get(p.str("file_id", required=True))
        if rec is None:
            raise bad_request("invalid file_id")
        return {k: v for k, v in rec.items() if not k.startswith("_")}

    def _check_editable(self, bot, msg, what="edit"):
        if msg is None:
            raise bad_request(f"message to {what} not found")
        sender = msg.get("from", {}).get("id")
        if sender is not None and sender != bot["user"]["id"]:
            raise bad_request("message can't be edited")

    def _api_editmessagetext(self, bot, p, files, names):
        chat, key, msg = self._edit_target(bot, p)
        self._check_editable(bot, msg)
        if "text" not in msg:
            raise bad_request("there is no text in the message to edit")
        source = p.str("text", "")
        if not source.strip():
            raise bad_request("message text is empty")
        text, entities = self._render(source, p, "entities")
        if len(text) > 4096:
            raise bad_request("MESSAGE_TOO_LONG")
        markup = self._markup(p)
        if text == msg.get("text") and entities == msg.get("entities") \
                and markup == msg.get("reply_markup"):
            raise bad_request(_NOT_MODIFIED)
        msg["text"] = text
        for field, value in (("entities", entities), ("reply_markup", markup)):
            if value is None:
                msg.pop(field, None)
            else:
                msg[field] = value
        msg["edit_date"] = self.now()
        msg["_source_text"] = source
        msg["_parse_mode"] = p.str("parse_mode")
        self._log_sent(bot["token"], "editMessageText", msg)
        return self._public(msg)

    def _api_editmessagecaption(self, bot, p, files, names):
        chat, key, msg = self._edit_target(bot, p)
        self._check_editable(bot, msg)
        if "text" in msg:
            raise bad_request("there is no caption in the message to edit")
        source, caption, entities = self._caption(p)
        markup = self._markup(p)
        if caption == msg.get("caption") and markup == msg.get("reply_markup"):
            raise bad_request(_NOT_MODIFIED)
        for field, value in (("caption", caption), ("caption_entities", entities),
                             ("reply_markup", markup)):
            if value is None:
                msg.pop(field, None)
            else:
                msg[field] = value
        msg["edit_date"] = self.now()
        self._log_sent(bot["token"], "editMessageCaption", msg)
        return self._public(msg)

    def _api_editmessagereplymarkup(self, bot, p, files, names):
        chat, key, msg = self._edit_target(bot, p)
        self._check_editable(bot, msg)
        markup = self._markup(p)
        if markup == msg.get("reply_markup") or (
                not markup and not msg.get("reply_markup")):
            raise bad_request(_NOT_MODIFIED)
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = self.now()
        self._log_sent(bot["token"], "editMessageReplyMarkup", msg)
        return self._public(msg)

    def _api_deletemessage(self, bot, p, files, names):
        chat, key, msg = self._edit_target(bot, p)
        if msg is None:
            raise bad_request("message to delete not found")
        sender = msg.get("from", {}).get("id")
        if chat is not None and sender != bot["user"]["id"] and not self._has_right(
                chat, bot["user"]["id"], "can_delete_messages"):
            raise bad_request("message can't be deleted")
        self._boxes[key]["messages"].pop(msg["message_id"], None)
        return True

    def _api_answercallbackquery(self, bot, p, files, names):
        qid = p.str("callback_query_id", required=True)
        rec = self._callbacks.get(qid)
        if rec is None or rec["token"] != bot["token"] or rec["answered"]:
            raise bad_request("query is too old and response timeout expired or "
                              "query ID is invalid")
        text = p.str("text")
        if text and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        rec["answered"] = True
        rec["answer"] = {"text": text, "show_alert": p.bool("show_alert"),
                         "url": p.str("url"), "cache_time": p.int("cache_time", 0)}
        return True

    # ------------------------------------------------------------------ chats & members
    def _api_getchat(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        info = copy.deepcopy(public)
        info.update({"accent_color_id": 0, "max_reaction_count": 11})
        if chat is None:
            return info
        status = self._status(chat, bot["user"]["id"])
        if status not in ("creator", "administrator", "member"):
            if status == "kicked" or not public.get("username"):
                self._require_in_chat(bot, chat)  # 403 like Telegram
            return info  # public chats are visible to anybody
        if chat["description"]:
            info["description"] = chat["description"]
        if chat["primary_link"] is not None:
            info["invite_link"] = chat["primary_link"]["invite_link"]
        if public["type"] in ("group", "supergroup"):
            info["permissions"] = {
                "can_send_messages": True, "can_send_audios": True,
                "can_send_documents": True, "can_send_photos": True,
                "can_send_videos": True, "can_send_video_notes": True,
                "can_send_voice_notes": True, "can_send_polls": True,
                "can_send_other_messages": True, "can_add_web_page_previews": True,
                "can_change_info": False, "can_invite_users": True,
                "can_pin_messages": False, "can_manage_topics": False,
            }
        if public["type"] == "supergroup":
            info["join_by_request"] = False
        return info

    def _target_user(self, p):
        uid = p.int("user_id", required=True)
        if uid not in self._users:
            raise bad_request("user not found")
        return uid

    def _api_getchatmember(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        uid = self._target_user(p)
        if chat is None:
            if uid not in (public["id"], bot["user"]["id"]):
                raise bad_request("user not found")
            return {"status": "member", "user": copy.deepcopy(self._users[uid])}
        self._require_in_chat(bot, chat)
        return self._member_obj(chat, uid)

    def _api_getchatadministrators(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        if chat is None:
            raise bad_request("there are no administrators in the private chat")
        self._require_in_chat(bot, chat)
        return [self._member_obj(chat, uid) for uid in list(chat["members"])
                if self._status(chat, uid) in ("creator", "administrator")]

    def _api_getchatmembercount(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        if chat is None:
            return 2
        self._require_in_chat(bot, chat)
        return sum(1 for uid in list(chat["members"])
                   if self._status(chat, uid) in ("creator", "administrator", "member"))

    _api_getchatmemberscount = _api_getchatmembercount

    def _api_leavechat(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        if chat is None:
            raise bad_request("chat member status can't be changed in private chats")
        self._require_in_chat(bot, chat)
        self._change_status(chat, bot["user"]["id"], "left", self._users[bot["user"]["id"]])
        return True

    def _api_banchatmember(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        if chat is None:
            raise bad_request("can't remove members from private chats")
        self._require_right(bot, chat, "can_restrict_members",
                            "restrict/unrestrict chat member")
        uid = self._target_user(p)
        if uid == bot["user"]["id"]:
            raise bad_request("can't remove self")
        status = self._status(chat, uid)
        if status == "creator":
            raise bad_request("can't remove chat owner")
        if status == "administrator":
            raise bad_request("user is an administrator of the chat")
        until = p.int("until_date", 0) or 0
        now = self.now()
        if until and (until - now < 30 or until - now > 366 * 86400):
            until = 0
        chat["join_requests"].pop(uid, None)
        self._change_status(chat, uid, "kicked", self._users[bot["user"]["id"]],
                            until_date=until)
        return True

    _api_kickchatmember = _api_banchatmember

    def _api_unbanchatmember(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        if chat is None:
            raise bad_request("can't remove members from private chats")
        self._require_right(bot, chat, "can_restrict_members",
                            "restrict/unrestrict chat member")
        if chat["chat"]["type"] == "group":
            raise bad_request("method is available for supergroup and channel chats only")
        uid = self._target_user(p)
        status = self._status(chat, uid)
        actor = self._users[bot["user"]["id"]]
        if status == "kicked":
            self._change_status(chat, uid, "left", actor)
        elif p.bool("only_if_banned"):
            return True
        elif status == "creator":
            raise bad_request("can't remove chat owner")
        elif status == "administrator":
            raise bad_request("user is an administrator of the chat")
        elif status == "member":
            self._change_status(chat, uid, "left", actor)
        return True

    # ------------------------------------------------------------------ invite links
    def _new_link_url(self):
        return "https://t.me/+" + secrets.token_urlsafe(12).replace("-", "A").replace("_", "b")

    def _link_options(self, p, link=None):
        name = p.str("name")
        if name is not None and len(name) > 32:
            raise bad_request("invite link name is too long")
        expire = p.int("expire_date")
        limit = p.int("member_limit")
        if limit is not None and not 0 <= limit <= 99999:
            raise bad_request("member limit must be between 1 and 99999")
        join_req = p.bool("creates_join_request", link["creates_join_request"] if link else False)
        if join_req and limit:
            raise bad_request("member limit can't be specified for links requiring "
                              "administrator approval")
        return {"name": name or None, "expire_date": expire or None,
                "member_limit": (limit or None) if not join_req else None,
                "creates_join_request": join_req}

    def _api_createchatinvitelink(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        self._require_right(bot, chat, "can_invite_users", "manage chat invite link")
        options = self._link_options(p)
        link = {"invite_link": self._new_link_url(), "creator": copy.deepcopy(bot["user"]),
                "is_primary": False, "is_revoked": False, "_chat": chat,
                "_created": self.now(), **options}
        chat["links"][link["invite_link"]] = link
        return self._link_public(link)

    def _find_link(self, chat, p):
        wanted = self._norm_link(p.str("invite_link", required=True))
        link = chat["links"].get(wanted)
        if link is None:
            raise bad_request("INVITE_HASH_EXPIRED")
        return link

    def _api_editchatinvitelink(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        self._require_right(bot, chat, "can_invite_users", "manage chat invite link")
        link = self._find_link(chat, p)
        if link["is_primary"]:
            raise bad_request("can't edit primary invite link")
        options = self._link_options(p, link)
        for field in ("name", "expire_date", "member_limit"):
            if field not in p:
                options.pop(field)
        link.update(options)
        return self._link_public(link)

    def _api_revokechatinvitelink(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        self._require_right(bot, chat, "can_invite_users", "manage chat invite link")
        link = self._find_link(chat, p)
        link["is_revoked"] = True
        if link["is_primary"]:
            self._export_primary(bot, chat)
        for uid, req in list(chat["join_requests"].items()):
            if req["link"] is link:
                del chat["join_requests"][uid]
        return self._link_public(link)

    def _export_primary(self, bot, chat):
        old = chat["primary_link"]
        if old is not None:
            old["is_revoked"] = True
            old["is_primary"] = False
        link = {"invite_link": self._new_link_url(), "creator": copy.deepcopy(bot["user"]),
                "is_primary": True, "is_revoked": False, "creates_join_request": False,
                "name": None, "expire_date": None, "member_limit": None, "_chat": chat,
                "_created": self.now()}
        chat["links"][link["invite_link"]] = link
        chat["primary_link"] = link
        return link

    def _api_exportchatinvitelink(self, bot, p, files, names):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        self._require_right(bot, chat, "can_invite_users", "export chat invite link")
        return self._export_primary(bot, chat)["invite_link"]

    def _join_request(self, bot, p):
        chat, key, public = self._resolve_chat(bot, p.chat_id())
        self._require_right(bot, chat, "can_invite_users", "manage join requests")
        uid = self._target_user(p)
        if self._status(chat, uid) in ("creator", "administrator", "member"):
            chat["join_requests"].pop(uid, None)
            raise bad_request("USER_ALREADY_PARTICIPANT")
        request = chat["join_requests"].get(uid)
        if request is None:
            raise bad_request("HIDE_REQUESTER_MISSING")
        return chat, uid, request

    def _api_approvechatjoinrequest(self, bot, p, files, names):
        chat, uid, request = self._join_request(bot, p)
        del chat["join_requests"][uid]
        self._change_status(chat, uid, "member", self._users[bot["user"]["id"]],
                            link=request["link"], via_link=request["link"])
        return True

    def _api_declinechatjoinrequest(self, bot, p, files, names):
        chat, uid, request = self._join_request(bot, p)
        del chat["join_requests"][uid]
        self._cond.notify_all()
        return True
