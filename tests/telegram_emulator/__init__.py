"""A fake Telegram Bot API server (standard library only) for tests and benchmarks.

    from tests.telegram_emulator import BotApiEmulator
    emu = BotApiEmulator().start()
    telebot.apihelper.API_URL = emu.url + "/bot{0}/{1}"
    telebot.apihelper.FILE_URL = emu.url + "/file/bot{0}/{1}"
"""

from .params import ApiError
from .server import BotApiEmulator

__all__ = ["ApiError", "BotApiEmulator"]
