"""The owner's ``/newcode`` wizard in Telegram: plan, activations, expiry, single or bulk; then
the code with its link, or the CSV of a bulk generation as a document."""

import logging

from bot import keyboards, texts
from bot.handlers.project import ProjectHandlers
from webapp import i18n, telegram
from webapp.domain import code_entry, newcode_wizard
from webapp.domain.csv_export import codes_csv, csv_filename
from webapp.domain.customers import TelegramUser
from webapp.domain.errors import InvalidInput
from webapp.extensions import db
from webapp.models import utcnow

log = logging.getLogger(__name__)


def on_newcode(handlers: ProjectHandlers, chat_id: int, user: TelegramUser) -> None:
    step = wizard_answer(
        handlers,
        chat_id,
        lambda session: newcode_wizard.start(session, handlers.project_id, user.id, utcnow()),
    )
    if step is not None:
        code_entry.clear_pending_step(db.session, handlers.project_id, user.id)
        wizard_step(handlers, chat_id, step)


def on_button(handlers: ProjectHandlers, chat_id: int, user: TelegramUser, nonce: str,
              step_name: str, value: str) -> None:
    step = wizard_answer(
        handlers,
        chat_id,
        lambda session: newcode_wizard.choose(
            session, handlers.project_id, user.id, nonce, step_name, value, utcnow()
        ),
    )
    if step is not None:
        wizard_step(handlers, chat_id, step)


def answer_text(handlers: ProjectHandlers, chat_id: int, user: TelegramUser, text: str) -> bool:
    """Typed text as the answer to the wizard's step; False when no wizard asked for it."""
    session = db.session
    try:
        step = newcode_wizard.answer_text(session, handlers.project_id, user.id, text, utcnow())
    except InvalidInput as exc:
        session.rollback()
        handlers.reply(chat_id, texts.newcode_invalid(exc, handlers.owner_lang()))
        return True
    except (newcode_wizard.NotAnOwner, newcode_wizard.WizardGone):
        newcode_wizard.cancel(session, handlers.project_id, user.id)
        session.commit()
        handlers.reply(chat_id, texts.newcode_gone(handlers.voice(user).lang))
        return True
    if step is None:
        return False
    wizard_step(handlers, chat_id, step)
    return True


def wizard_answer(handlers: ProjectHandlers, chat_id: int, ask):
    """The wizard's next step from ``ask(session)``, or ``None`` after replying to a refusal."""
    session = db.session
    # Refusals to a stranger speak the project's default; the owner reads their own language.
    lang = handlers.owner_lang()
    try:
        return ask(session)
    except newcode_wizard.NotAnOwner:
        session.rollback()
        handlers.reply(
            chat_id, texts.not_owner(i18n.resolve(handlers.facts().default_language))
        )
    except newcode_wizard.WizardGone:
        session.rollback()
        handlers.reply(chat_id, texts.newcode_gone(lang))
    except newcode_wizard.NoPlans as exc:
        session.commit()
        handlers.reply(chat_id, texts.newcode_no_plans(str(exc), lang))
    except InvalidInput as exc:
        session.rollback()
        handlers.reply(chat_id, texts.newcode_invalid(exc, lang))
    return None


def wizard_step(handlers: ProjectHandlers, chat_id: int, step) -> None:
    """Commit the wizard's progress (or the codes made), then show the next step."""
    session = db.session
    lang = handlers.owner_lang()
    if isinstance(step, newcode_wizard.WizardPrompt):
        session.commit()
        handlers.reply(chat_id, texts.newcode_prompt(step, lang), keyboards.newcode(step, lang))
        return
    project, plan, codes = step.project, step.plan, step.codes
    bot_username, project_name, plan_name = project.bot_username, project.name, plan.name
    if len(codes) == 1 and step.batch is None:
        code = codes[0]
        text = texts.newcode_single(
            bot_username, code.code, code.expires_at, code.max_activations, step.timezone,
            lang,
        )
        session.commit()
        handlers.reply(chat_id, text)
        return
    data = codes_csv(codes, bot_username, plan_name)
    filename = csv_filename(project_name, plan_name, len(codes))
    count = len(codes)
    session.commit()
    try:
        telegram.send_document(
            handlers.token,
            chat_id,
            data,
            filename,
            caption=texts.newcode_bulk_caption(count, plan_name, lang),
        )
    except telegram.TelegramError as exc:
        log.warning("project %s: CSV not sent: %s", handlers.project_id, handlers.describe(exc))
        handlers.reply(chat_id, texts.newcode_bulk_not_sent(count, lang))
