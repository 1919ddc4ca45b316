"""The bot's catalogues: every language complete, nothing fuzzy, plurals and dates right."""

import gettext
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.support import Translations

from bot import texts
from webapp import i18n
from webapp.domain import newcode_wizard, notices
from webapp.domain.errors import InvalidInput

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "webapp" / "translations"
LANGUAGES = list(i18n.LANGUAGES)
ENDS = datetime(2027, 2, 26, 14, 5, tzinfo=UTC)


def _catalogue(lang: str):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "bot.po", "rb") as f:
        return read_po(f, locale=lang)


def _messages_in_code() -> set[str]:
    """The msgids the code asks for, extracted as ``make translations`` does."""
    found = set()
    for path in ("bot", "webapp/domain"):
        for _, _, message, _, _ in extract_from_dir(
            ROOT / path,
            method_map=[("**.py", "python")],
            keywords={"gettext": (2,), "ngettext": (2, 3), "N_": None},
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_catalogue_translates_every_message_of_the_code_with_nothing_fuzzy(lang):
    catalogue = _catalogue(lang)
    translated = {}
    for message in catalogue:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        assert not message.fuzzy, f"{lang}: fuzzy {key!r}: a translator has to confirm it"
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{lang}: untranslated {key!r}"
        if isinstance(message.id, tuple):
            assert len(strings) == catalogue.num_plurals, f"{lang}: plural forms of {key!r}"
        translated[key] = message
    missing = _messages_in_code() - set(translated)
    assert not missing, f"{lang}: not in the catalogue (run make translations): {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_translation_keeps_the_placeholders_of_its_message(lang):
    """Babel's checks: the same %(name)s placeholders as the English (a missing one would
    raise, or send a message with a hole)."""
    problems = [
        (message.id, [str(e) for e in errors]) for message, errors in _catalogue(lang).check()
    ]
    assert problems == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_catalogue_is_the_po_file(lang):
    """The .mo the processes read says what the committed .po says (make translations)."""
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "bot.mo", "rb") as f:
        compiled = Translations(f, domain="bot")
    catalogue = _catalogue(lang)
    plural_index = gettext.c2py(catalogue.plural_expr)
    for message in catalogue:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            for n in (1, 2, 5, 21):
                expected = message.string[plural_index(n)]
                assert compiled.ngettext(*message.id, n) == expected, (lang, message.id, n)
        else:
            assert compiled.gettext(message.id) == message.string, (lang, message.id)


def test_the_catalogue_template_is_up_to_date_with_the_code(tmp_path):
    pot = tmp_path / "bot.pot"
    subprocess.run(
        [
            sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel-bot.cfg",
            "--no-default-keywords", "-k", "gettext:2", "-k", "ngettext:2,3", "-k", "N_",
            "-o", str(pot),
            "--sort-by-file", ".",
        ],
        cwd=ROOT, check=True, capture_output=True,
    )
    with open(pot, "rb") as f:
        fresh = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with open(TRANSLATIONS / "bot.pot", "rb") as f:
        committed = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    assert fresh == committed


@pytest.mark.parametrize(
    ("lang", "counts"),
    [
        ("ru", {1: "1 день", 2: "2 дня", 5: "5 дней", 11: "11 дней", 21: "21 день", 22: "22 дня"}),
        ("uk", {1: "1 день", 3: "3 дні", 5: "5 днів", 12: "12 днів", 31: "31 день"}),
        ("es", {1: "1 día", 2: "2 días"}),
        ("pt_BR", {1: "1 dia", 2: "2 dias"}),
        ("en", {1: "1 day", 2: "2 days"}),
    ],
)
def test_periods_take_the_plural_form_of_their_number(lang, counts):
    for n, expected in counts.items():
        assert texts.period("day", n, lang) == expected


def test_russian_minutes_hours_and_activations_agree_with_their_numbers():
    assert "<b>1 минуту</b>" in texts.too_many_attempts(60, "ru")
    assert "<b>3 минуты</b>" in texts.too_many_attempts(170, "ru")
    assert "<b>10 минут</b>" in texts.too_many_attempts(600, "ru")
    now = ENDS - timedelta(hours=5)
    assert "примерно через 5 часов" in notices.reminder_text("G", "P", ENDS, now, None, "ru")
    now = ENDS - timedelta(hours=2)
    assert "примерно через 2 часа" in notices.reminder_text("G", "P", ENDS, now, None, "ru")
    assert texts.period("month", 3, "ru") == "3 месяца"
    notice = texts.owner_notice("<b>@ann</b>", "K7QF", "Gold", "P", 7, 10, "ru")
    assert notice.endswith("Осталось 7 из 10 активаций.")
    assert texts.owner_notice("x", "K", "G", "P", 0, 1, "ru").endswith("Осталось 0 из 1 активации.")


@pytest.mark.parametrize(
    ("lang", "tz", "expected"),
    [
        ("en", None, "26 Feb 2027, 14:05 (UTC)"),
        ("ru", "Europe/Moscow", "26 февр. 2027\u202fг., 17:05 (Europe/Moscow)"),
        ("uk", "Europe/Kyiv", "26 лют. 2027\u202fр., 16:05 (Europe/Kyiv)"),
        ("es", "America/Mexico_City", "26 feb 2027, 08:05 (America/Mexico_City)"),
        ("pt_BR", "America/Sao_Paulo", "26 de fev. de 2027, 11:05 (America/Sao_Paulo)"),
    ],
)
def test_dates_are_written_for_the_language_in_the_projects_zone_which_is_named(
    lang, tz, expected
):
    assert i18n.format_moment(ENDS, lang, tz) == expected


@pytest.mark.parametrize(
    ("telegram", "default", "expected"),
    [
        ("ru", "en", "ru"),
        ("pt-br", "en", "pt_BR"),
        ("pt", "en", "pt_BR"),
        ("en-US", "ru", "en"),
        ("uk", "ru", "uk"),
        ("de", "es", "es"),
        (None, "uk", "uk"),
        ("de", None, "en"),
        (None, None, "en"),
    ],
)
def test_the_customers_language_is_telegrams_else_the_projects_default_else_english(
    telegram, default, expected
):
    assert i18n.resolve(telegram, default) == expected


def test_a_newcode_refusal_is_worded_in_the_owners_language():
    with pytest.raises(InvalidInput) as refused:
        newcode_wizard.parse_count(
            "lots", 2, 500, "count",
            i18n.N_("The number of codes must be a whole number from %(low)s to %(high)s."),
        )
    assert refused.value.message == "The number of codes must be a whole number from 2 to 500."
    assert texts.newcode_invalid(refused.value, "ru") == (
        "⚠️ Число кодов должно быть целым числом от 2 до 500. Попробуйте ещё раз или отправьте "
        "/cancel."
    )
    with pytest.raises(InvalidInput) as refused:
        newcode_wizard.parse_expiry_date("2020-01-01", "UTC", ENDS)
    assert texts.newcode_invalid(refused.value, "es").startswith(
        "⚠️ La fecha de caducidad debe ser futura."
    )


def test_the_owners_command_menu_is_described_in_the_owners_language():
    assert texts.owner_commands("en") == texts.OWNER_COMMANDS
    russian = dict(texts.owner_commands("ru"))
    assert list(russian) == ["start", "help", "cancel", "newcode"]
    assert russian["newcode"] == "Создать коды доступа"
    assert russian["start"] == "Активировать код доступа или посмотреть тарифы"


def test_the_code_card_and_the_digest_lines_count_with_the_languages_plural_forms():
    card = texts.code_card("K7QF", "used up", "Gold", 1, 1, None, "VIP", "UTC", "ru")
    assert card == "🔑 <code>K7QF</code> — <b>исчерпан</b>\nТариф: Gold\nАктивации: 1/1\n" \
        "Истекает: никогда\nЗаметка: VIP"
    english = texts.code_card("K7QF", "active", "Gold", 0, 1, None, None, "UTC", "en")
    assert "Usage: 0/1 activation\n" in english
    assert "Usage: 2/5 activations" in texts.code_card(
        "K", "active", "Gold", 2, 5, None, None, "UTC", "en"
    )
    assert texts.digest_ended_line("Ann", "Gold", "ended_by_owner", "uk") == \
        "• Ann — Gold (припинений вами)"
    assert texts.digest_ended_line("Ann", "Gold", "expired", "es") == \
        "• Ann — Gold (periodo terminado)"
    assert texts.digest_more(3, "pt_BR") == "…e mais 3."
    assert texts.code_changed("resume", False, "ru") == "Без изменений: уже действует."


def test_the_guessing_alert_and_a_chat_waiting_for_acceptance_are_in_the_owners_language():
    assert texts.guessing_alert(5, "ru").startswith("🚨 Как минимум 5 аккаунтов Telegram")
    assert texts.guessing_alert(21, "uk").startswith("🚨 Щонайменше 21 обліковий запис")
    assert texts.guessing_alert(1, "en").startswith("🚨 At least 1 Telegram account sent")
    assert texts.guessing_alert(5, "en").startswith("🚨 At least 5 Telegram accounts sent")
    pending = texts.resource_pending("channel", -1001000000701, "es")
    # The chat id stays a bare number: digit grouping would make it a different id.
    assert "de un canal (id -1001000000701)" in pending
    assert texts.resource_pending("supergroup", -100123, "en") == (
        "⚠️ Someone else made the bot an administrator of a supergroup (id -100123). "
        "It is not used until you accept it on the project's page in the dashboard."
    )
