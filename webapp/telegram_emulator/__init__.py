"""A fake Telegram Bot API server (standard library only) for tests and benchmarks.

In-process::

    from webapp.telegram_emulator import BotApiEmulator
    emu = BotApiEmulator().start()            # 127.0.0.1, free port; emu.url
    telebot.apihelper.API_URL = emu.url + "/bot{0}/{1}"
    telebot.apihelper.FILE_URL = emu.url + "/file/bot{0}/{1}"
    emu.add_bot(token="123:ABC", username="GoldClubBot", first_name="Gold Club")
    ...
    emu.stop()

Standalone: ``python -m webapp.telegram_emulator --port 8081 [--bot TOKEN=USERNAME]``.

HTTP control (for another process): ``POST /_emulator/<action>`` with a JSON object of keyword
arguments; the answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``
(status 400; 404 for an unknown action). Actions are the public methods of the same name
listed in ``BotApiEmulator.CONTROL_ACTIONS``. Bytes travel as base64: results carry base64
text where the Python API gives bytes (``_file_bytes``, call ``files``); arguments ending in
``_b64`` are decoded and passed without the suffix (``send_document``: ``content_b64``).

Private keys (starting with ``_``) in message dicts never go over the Bot API.
"""

from .params import ApiError
from .server import BotApiEmulator

__all__ = ["ApiError", "BotApiEmulator"]
