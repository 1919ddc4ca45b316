"""Outbound Bot API calls: the one place that knows how to reach Telegram."""

import telebot
from telebot import apihelper


def configure(api_url: str) -> None:
    """Point pyTelegramBotAPI at ``api_url`` (Telegram, or the emulator in tests).

    pyTelegramBotAPI keeps these as module globals, so this is per process.
    """
    apihelper.API_URL = api_url + "/bot{0}/{1}"
    apihelper.FILE_URL = api_url + "/file/bot{0}/{1}"


def bot_for(token: str) -> telebot.TeleBot:
    """A client for one project's bot; no handlers, no polling."""
    return telebot.TeleBot(token, threaded=False, parse_mode=None)
