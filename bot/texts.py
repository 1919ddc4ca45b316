"""Everything the bot says, in the reader's language. HTML parse mode: every interpolated value
goes through ``esc``.

Each function takes ``lang`` (a key of ``webapp.i18n.LANGUAGES``; the customer's from
``webapp.domain.customers.customer_language``, the owner's from ``Owner.language``) and, where it
shows a time, ``tz``: the project's time zone for customers, the owner's own for owners. The
strings are msgids of the ``bot`` gettext catalogue (``make translations``).
"""

from datetime import datetime
from html import escape

from webapp.domain import owner_texts
from webapp.domain.codes import MAX_BATCH, activation_link
from webapp.i18n import N_, format_moment, gettext, ngettext


def esc(value) -> str:
    return escape(str(value), quote=False)


def when(moment: datetime, timezone: str | None = None, lang: str = "en") -> str:
    """26 Feb 2027, 14:05 (UTC): the wall-clock time in ``timezone``, which is named."""
    return esc(format_moment(moment, lang, timezone))


def plan_label(project_name: str, plan_name: str) -> str:
    """"Gold Club, 3 months" — or just the plan's name when it already says the project's."""
    if project_name.strip().casefold() in plan_name.casefold():
        return esc(plan_name)
    return f"{esc(project_name)}, {esc(plan_name)}"


def period(unit: str, count: int | None, lang: str = "en") -> str:
    """A plan's period for the customer: "lifetime", "1 день", "3 months"."""
    if unit == "lifetime" or not count:
        return gettext(lang, "lifetime")
    if unit == "month":
        return ngettext(lang, "%(num)s month", "%(num)s months", count)
    return ngettext(lang, "%(num)s day", "%(num)s days", count)


def person(first_name, last_name, username, telegram_user_id) -> str:
    """@ann (Ann Lee, id 5001)"""
    name = " ".join(p for p in (first_name, last_name) if p)
    details = f"{esc(name)}, id {telegram_user_id}" if name else f"id {telegram_user_id}"
    if username:
        return f"<b>@{esc(username)}</b> ({details})"
    return f"<b>{details}</b>"


def _contact_line(lang: str, contact: str | None) -> str:
    """The refusals' closing line: the owner's contact when they gave one."""
    if contact:
        return gettext(
            lang, "If you paid for access, please contact the owner: %(contact)s", contact=contact
        )
    return gettext(lang, "If you paid for access, please contact the owner.")


# ---- customers ------------------------------------------------------------------------------

def welcome(
    project_name: str,
    has_plans: bool,
    lang: str = "en",
    custom: str | None = None,
    first_name: str | None = None,
) -> str:
    """The answer to a bare /start; ``custom`` is the owner's own welcome (``owner_texts``)."""
    if custom:
        return owner_texts.render(custom, project=project_name, name=first_name or "")
    text = gettext(lang, "👋 Welcome to <b>%(project)s</b>!", project=esc(project_name)) + "\n\n"
    if has_plans:
        return text + gettext(
            lang,
            "If you have an activation link, just tap it. To type an access code instead, "
            "choose your plan below and tap <b>Access code</b>.",
        )
    return text + gettext(lang, "There is nothing to join here yet. Please check back later.")


def plan_chosen(project_name: str, plan_name: str, period_label: str, lang: str = "en") -> str:
    # "3 months (3 months)" says nothing twice.
    extra = "" if period_label.casefold() in plan_name.casefold() else f" ({esc(period_label)})"
    return (
        f"<b>{plan_label(project_name, plan_name)}</b>{extra}.\n"
        + gettext(lang, "Tap <b>Access code</b> to enter the code you were given.")
    )


def ask_code(plan_name: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "Please type your access code for <b>%(plan)s</b> "
        "(for example <code>K7QF-M2XD-9PRT</code>). Send /cancel to stop.",
        plan=esc(plan_name),
    )


def activated(
    project_name: str,
    plan_name: str,
    ends_at: datetime | None,
    extended: bool,
    lang: str = "en",
    tz: str | None = None,
    custom: str | None = None,
    first_name: str | None = None,
) -> str:
    """The confirmation's first paragraph; ``custom`` is the owner's own (``owner_texts``)."""
    if custom:
        ends = format_moment(ends_at, lang, tz) if ends_at else gettext(lang, "lifetime")
        return owner_texts.render(
            custom,
            plan=f"{project_name}, {plan_name}",
            project=project_name,
            ends=ends,
            name=first_name or "",
        )
    label = plan_label(project_name, plan_name)
    head = gettext(lang, "✅ Code accepted — <b>%(plan)s</b>.", plan=label)
    if ends_at is None:
        access = gettext(lang, "Your access is <b>lifetime</b>.")
    elif extended:
        access = gettext(
            lang,
            "Your access has been extended until <b>%(ends)s</b>.",
            ends=when(ends_at, tz, lang),
        )
    else:
        access = gettext(
            lang, "Your access runs until <b>%(ends)s</b>.", ends=when(ends_at, tz, lang)
        )
    return f"{head} {access}"


def join_hint(has_links: bool, pending_titles: list[str], lang: str = "en") -> str:
    parts = []
    if has_links:
        parts.append(gettext(
            lang, "Tap the button below to join. Each link is for you alone and works once."
        ))
    if pending_titles:
        names = ", ".join(f"<b>{esc(t)}</b>" for t in pending_titles)
        parts.append(gettext(
            lang,
            "Your join link for %(names)s could not be made just now; it will follow here "
            "shortly. Your access is already recorded.",
            names=names,
        ))
    return "\n\n".join(parts)


def join_button(title: str, lang: str = "en") -> str:
    return gettext(lang, "Join: %(title)s", title=title)


def access_code_button(lang: str = "en") -> str:
    return gettext(lang, "🔑 Access code")


def join_links_ready(project_name: str, plan_name: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "🔗 Your join links for <b>%(plan)s</b> are ready. "
        "Each link is for you alone and works once.",
        plan=plan_label(project_name, plan_name),
    )


def unknown_code(lang: str = "en", contact: str | None = None) -> str:
    if contact:
        return gettext(
            lang,
            "Sorry, this code is not valid. Please check it and try again, or contact the "
            "owner: %(contact)s",
            contact=contact,
        )
    return gettext(
        lang,
        "Sorry, this code is not valid. Please check it and try again, or contact the owner "
        "who gave it to you.",
    )


def unknown_code_last_try(attempts_left: int, lang: str = "en", contact: str | None = None) -> str:
    text = unknown_code(lang, contact)
    if attempts_left <= 0:
        return text + "\n\n" + gettext(
            lang, "Too many wrong codes: please wait 10 minutes to try again."
        )
    if attempts_left == 1:
        return text + "\n\n" + gettext(
            lang, "You have 1 try left before you have to wait 10 minutes."
        )
    return text


def code_expired(lang: str = "en", contact: str | None = None) -> str:
    return (
        gettext(lang, "This code has expired and can no longer be used.")
        + " " + _contact_line(lang, contact)
    )


def code_used_up(lang: str = "en", contact: str | None = None) -> str:
    return (
        gettext(lang, "This code has already been used the maximum number of times.")
        + " " + _contact_line(lang, contact)
    )


def with_contact(text: str, contact: str | None, lang: str = "en") -> str:
    """A refusal that says "contact the owner", with how, when the owner has said how
    (``contact`` plain text, escaped here)."""
    if not contact:
        return text
    return text + "\n\n" + gettext(lang, "Contact the owner: %(contact)s", contact=esc(contact))


def code_paused(lang: str = "en", contact: str | None = None) -> str:
    """``contact`` is HTML (``owner_texts.contact``)."""
    if contact:
        return gettext(
            lang,
            "This code is paused by its owner and cannot be used right now. Please try again "
            "later, or contact the owner: %(contact)s",
            contact=contact,
        )
    return gettext(
        lang,
        "This code is paused by its owner and cannot be used right now. Please try again later, "
        "or contact the owner who gave it to you.",
    )


def already_activated(
    label: str | None,
    ends_at: datetime | None,
    active: bool,
    lang: str = "en",
    tz: str | None = None,
) -> str:
    """Also the answer to an update delivered again after a crash, so it reads as a confirmation.

    ``label`` is already HTML (see ``plan_label``).
    """
    text = gettext(lang, "You have already activated this code.")
    if not active:
        return text + " " + gettext(lang, "The access it gave has ended.")
    if ends_at is None:
        return text + " " + gettext(
            lang, "Your access to <b>%(plan)s</b> is <b>lifetime</b>.", plan=label
        )
    return text + " " + gettext(
        lang,
        "Your access to <b>%(plan)s</b> runs until <b>%(ends)s</b>.",
        plan=label,
        ends=when(ends_at, tz, lang),
    )


def guessing_alert(accounts: int, lang: str = "en") -> str:
    return ngettext(
        lang,
        "🚨 At least %(num)s Telegram account sent wrong codes to this bot in the last "
        "10 minutes: someone may be guessing codes. New accounts get one try per 10 minutes "
        "for now; your customers are not slowed down. Long random codes are safe; short "
        "custom codes are the ones at risk.",
        "🚨 At least %(num)s Telegram accounts sent wrong codes to this bot in the last "
        "10 minutes: someone may be guessing codes. New accounts get one try per 10 minutes "
        "for now; your customers are not slowed down. Long random codes are safe; short "
        "custom codes are the ones at risk.",
        accounts,
    )


def too_many_attempts(seconds: int, lang: str = "en") -> str:
    minutes = max(1, (seconds + 59) // 60)
    return ngettext(
        lang,
        "Too many wrong codes. For your security, please wait <b>%(num)s minute</b> and "
        "try again.",
        "Too many wrong codes. For your security, please wait <b>%(num)s minutes</b> and "
        "try again.",
        minutes,
    )


def not_a_code(lang: str = "en") -> str:
    return gettext(lang, "That does not look like an access code. Please check it and try again.")


def nothing_pending(lang: str = "en") -> str:
    return gettext(
        lang,
        "To use an access code, tap its activation link, or send /start, choose your plan and "
        "tap <b>Access code</b>.",
    )


def cancelled(lang: str = "en") -> str:
    return gettext(lang, "Cancelled. Send /start to begin again.")


def nothing_to_cancel(lang: str = "en") -> str:
    return gettext(lang, "There is nothing to cancel.")


def help_text(is_owner: bool, lang: str = "en") -> str:
    text = gettext(
        lang,
        "<b>How it works</b>\n"
        "• Tap the activation link you were given, or\n"
        "• send /start, choose your plan, tap <b>Access code</b> and type the code.\n"
        "You then get one <b>Join</b> button per channel or group.\n\n"
        "/start — begin\n/cancel — stop what you are doing",
    )
    if is_owner:
        text += "\n" + gettext(lang, "/newcode — make access codes (owner)")
        text += "\n" + gettext(
            lang, "/code <i>code</i> — a code's usage, pause or resume it (owner)"
        )
    return text


def unknown_command(lang: str = "en") -> str:
    return gettext(lang, "I don't know that command. Send /help to see what I can do.")


def text_only(lang: str = "en") -> str:
    return gettext(lang, "I can only read text messages. Send /help to see what I can do.")


def something_went_wrong(lang: str = "en") -> str:
    return gettext(lang, "Sorry, something went wrong on our side. Please try again in a moment.")


def button_gone(lang: str = "en") -> str:
    return gettext(lang, "This button no longer works. Send /start to begin again.")


def join_request_declined(title: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "Your request to join <b>%(title)s</b> was declined: it needs an active access code. "
        "If you have one, send it to me with /start.",
        title=esc(title),
    )


def removed_someone_elses_link(title: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "You were removed from <b>%(title)s</b>: that invite link was made for someone "
        "else. To join, activate your own access code here.",
        title=esc(title),
    )


def removed_no_access(title: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "You were removed from <b>%(title)s</b>: your access is no longer active. "
        "To join again, activate a new access code here.",
        title=esc(title),
    )


# ---- owners ---------------------------------------------------------------------------------

def owner_linked(email: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "✅ This Telegram account is now linked to <b>%(email)s</b>. You will get a notice "
        "here when someone activates a code, and you can make codes with /newcode.",
        email=esc(email),
    )


def owner_link_invalid(lang: str = "en") -> str:
    return gettext(
        lang,
        "This owner link is not valid or has already been used. Make a new one in the "
        "dashboard (Settings → Telegram).",
    )


def owner_notice(
    who: str, code: str, project_name: str, plan_name: str, left: int, total: int,
    lang: str = "en",
):
    head = gettext(
        lang,
        "🔑 %(who)s activated <code>%(code)s</code> → <b>%(plan)s</b>.",
        who=who,
        code=esc(code),
        plan=plan_label(project_name, plan_name),
    )
    rest = ngettext(
        lang,
        "%(left)s of %(num)s activation left.",
        "%(left)s of %(num)s activations left.",
        total,
        left=left,
    )
    return f"{head} {rest}"


def owner_notice_links_pending(titles: list[str], lang: str = "en") -> str:
    names = ", ".join(f"<b>{esc(t)}</b>" for t in titles)
    return gettext(
        lang,
        "⚠️ The join link for %(names)s could not be made; it will be retried. "
        "Check that the bot is still an administrator there with the right to invite users.",
        names=names,
    )


def _chat_kind(chat_type: str, lang: str) -> str:
    kinds = {
        "channel": gettext(lang, "channel"),
        "supergroup": gettext(lang, "supergroup"),
        "group": gettext(lang, "group"),
    }
    return kinds.get(chat_type, chat_type)


def resource_added(title: str, chat_type: str, missing: tuple[str, ...], lang: str = "en") -> str:
    text = gettext(
        lang,
        "✅ The bot is now an administrator of the %(kind)s <b>%(title)s</b>. "
        "Add it to a plan in the dashboard.",
        kind=esc(_chat_kind(chat_type, lang)),
        title=esc(title),
    )
    if chat_type == "group":
        text += "\n\n" + gettext(
            lang,
            "ℹ️ This is a basic group: it works, and when Telegram upgrades it to a "
            "supergroup (after you make its history visible to new members or give it a public "
            "link) Admit moves along with it, plans and members included.",
        )
    return text + _missing_rights(missing, lang)


def resource_pending(chat_type: str, chat_id: int, lang: str = "en") -> str:
    # No title: whoever promoted the bot chose it, and it could say anything.
    return gettext(
        lang,
        "⚠️ Someone else made the bot an administrator of a %(kind)s (id %(id)s). "
        "It is not used until you accept it on the project's page in the dashboard.",
        kind=esc(_chat_kind(chat_type, lang)),
        id=str(chat_id),  # a number that is not formatted as one
    )


def resource_updated(title: str, missing: tuple[str, ...], lang: str = "en") -> str:
    if not missing:
        return gettext(
            lang, "✅ The bot has every right it needs in <b>%(title)s</b> again.", title=esc(title)
        )
    return gettext(
        lang, "ℹ️ The bot's rights in <b>%(title)s</b> changed.", title=esc(title)
    ) + _missing_rights(missing, lang)


def _right(name: str, lang: str) -> str:
    rights = {
        "invite users": gettext(lang, "invite users"),
        "ban users": gettext(lang, "ban users"),
    }
    return rights.get(name, name)


def _missing_rights(missing: tuple[str, ...], lang: str = "en") -> str:
    if not missing:
        return ""
    joiner = " " + gettext(lang, "and") + " "
    return "\n\n" + gettext(
        lang,
        "⚠️ It still needs the right to %(rights)s, or customers cannot be admitted and "
        "removed there.",
        rights=joiner.join(esc(_right(m, lang)) for m in missing),
    )


def resource_not_admin(title: str, chat_type: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "ℹ️ The bot was added to the %(kind)s <b>%(title)s</b> but is not an "
        "administrator there. Make it an administrator with the rights to invite and ban users "
        "to use it in a plan.",
        kind=esc(_chat_kind(chat_type, lang)),
        title=esc(title),
    )


def resource_lost(title: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "⚠️ The bot is no longer an administrator of <b>%(title)s</b>. Customers cannot be "
        "admitted or removed there until you make it an administrator again "
        "(with the rights to invite and ban users).",
        title=esc(title),
    )


def not_owner(lang: str = "en") -> str:
    return gettext(
        lang, "Only the owner of this bot can make codes, after linking their Telegram account."
    )


def newcode_no_plans(project_name: str, lang: str = "en") -> str:
    return gettext(
        lang,
        "<b>%(project)s</b> has no active plan yet. Create one in the dashboard, "
        "then send /newcode again.",
        project=esc(project_name),
    )


def newcode_gone(lang: str = "en") -> str:
    return gettext(
        lang, "This button belongs to a finished or older /newcode. Send /newcode to start again."
    )


def _activations(n: int, lang: str) -> str:
    return ngettext(lang, "%(num)s activation", "%(num)s activations", n)


def _expiry(expires_at: datetime | None, timezone: str | None, lang: str) -> str:
    if expires_at is None:
        return gettext(lang, "no expiry")
    return gettext(lang, "expires %(when)s", when=when(expires_at, timezone, lang))


def newcode_prompt(prompt, lang: str = "en") -> str:
    step = prompt.step
    if step == "project":
        return gettext(lang, "Which project?")
    context = []
    if prompt.project_name:
        context.append(esc(prompt.project_name))
    if prompt.plan_name:
        context.append(esc(prompt.plan_name))
    if prompt.max_activations:
        context.append(gettext(
            lang, "max %(activations)s", activations=_activations(prompt.max_activations, lang)
        ))
    if step in ("kind", "count_typed"):  # the expiry is answered by now
        context.append(_expiry(prompt.expires_at, prompt.timezone, lang))
    head = f"<i>{' → '.join(context)}</i>\n" if context else ""
    questions = {
        "plan": lambda: gettext(lang, "Which plan?"),
        "max": lambda: gettext(lang, "How many activations?"),
        "max_typed": lambda: gettext(
            lang, "Type the max number of activations (a whole number)."
        ),
        "expiry": lambda: gettext(lang, "Should the code expire?"),
        "expiry_typed": lambda: gettext(
            lang,
            "Type the date the code should stop working, as YYYY-MM-DD "
            "(optionally with HH:MM, in your time zone).",
        ),
        "kind": lambda: gettext(lang, "One code or many?"),
        "count_typed": lambda: gettext(
            lang, "How many codes? Type a number from 2 to %(max)s.", max=MAX_BATCH
        ),
    }
    return head + questions[step]()


def newcode_invalid(problem, lang: str = "en") -> str:
    """``problem``: the domain's ``InvalidInput`` (worded in ``lang`` when it carries its
    template) or a message."""
    template = getattr(problem, "template", None)
    if template:
        message = gettext(lang, template, **problem.params)
    else:
        message = getattr(problem, "message", problem)
    return gettext(lang, "⚠️ %(problem)s Please try again, or send /cancel.", problem=esc(message))


def newcode_single(
    bot_username: str, code: str, expires_at: datetime | None, max_act: int, timezone: str,
    lang: str = "en",
):
    """The code made by /newcode; its expiry in the owner's ``timezone``."""
    link = activation_link(bot_username, code)
    line = gettext(
        lang, "<code>%(code)s</code> — activation link: %(link)s", code=esc(code), link=esc(link)
    )
    details = f"{_activations(max_act, lang)}, {_expiry(expires_at, timezone, lang)}."
    return f"{line}\n<i>{details}</i>"


def newcode_bulk_caption(count: int, plan_name: str, lang: str = "en") -> str:
    """Plain text: document captions are sent without a parse mode."""
    return ngettext(
        lang,
        "📎 %(num)s code for %(plan)s. The same file is in the dashboard.",
        "📎 %(num)s codes for %(plan)s. The same file is in the dashboard.",
        count,
        plan=plan_name,
    )


def newcode_bulk_not_sent(count: int, lang: str = "en") -> str:
    return ngettext(
        lang,
        "%(num)s code was made, but the file could not be sent. Download it from the "
        "dashboard (Access codes → batches).",
        "%(num)s codes were made, but the file could not be sent. Download it from the "
        "dashboard (Access codes → batches).",
        count,
    )


# ---- the owner's codes (/code) and daily digest -------------------------------------------

def _code_status(status: str, lang: str) -> str:
    statuses = {
        "active": gettext(lang, "active"),
        "paused": gettext(lang, "paused"),
        "expired": gettext(lang, "expired"),
        "used up": gettext(lang, "used up"),
        "rolled back": gettext(lang, "rolled back"),
    }
    return statuses.get(status, status)


def code_card(
    code: str, status: str, plan_name: str, used: int | None, max_activations: int,
    expires_at: datetime | None, note: str | None, timezone: str, lang: str = "en",
    notice: str = "",
) -> str:
    """The answer to ``/code``: ``used`` is None for a rolled-back code (its usage is gone)."""
    lines = [f"🔑 <code>{esc(code)}</code> — <b>{esc(_code_status(status, lang))}</b>"]
    lines.append(gettext(lang, "Plan: %(plan)s", plan=esc(plan_name)))
    if used is not None:
        lines.append(ngettext(
            lang, "Usage: %(used)s/%(num)s activation", "Usage: %(used)s/%(num)s activations",
            max_activations, used=used,
        ))
    expires = when(expires_at, timezone, lang) if expires_at else gettext(lang, "never")
    lines.append(gettext(lang, "Expires: %(when)s", when=expires))
    if note:
        lines.append(gettext(lang, "Note: %(note)s", note=esc(note)))
    if status == "paused":
        lines.append("\n" + gettext(
            lang, "New activations are refused; everyone it let in keeps their access."
        ))
    if notice:
        lines.insert(0, notice + "\n")
    return "\n".join(lines)


def code_pause_button(lang: str = "en") -> str:
    return gettext(lang, "⏸ Pause")


def code_resume_button(lang: str = "en") -> str:
    return gettext(lang, "▶️ Resume")


def code_changed(action: str, changed: bool, lang: str = "en") -> str:
    """The notice over the card after Pause or Resume (and the button's answer)."""
    if action == "pause":
        return gettext(lang, "Paused.") if changed else gettext(lang, "No change: paused.")
    return gettext(lang, "Resumed.") if changed else gettext(lang, "No change: resumed.")


def code_owner_only(lang: str = "en") -> str:
    return gettext(lang, "Only the owner of this bot can look up codes.")


def code_usage_hint(lang: str = "en") -> str:
    return gettext(
        lang,
        "Send <code>/code</code> and the code, e.g. <code>/code K7QF-M2XD-9PRT</code>.",
    )


def code_not_found(code: str, lang: str = "en") -> str:
    return gettext(lang, "This project has no code %(code)s.", code=esc(code))


def owner_button_gone(lang: str = "en") -> str:
    return gettext(lang, "This button no longer works.")


def owner_only_action(lang: str = "en") -> str:
    return gettext(lang, "Only the owner of this bot can do that.")


def code_unchangeable(lang: str = "en") -> str:
    return gettext(lang, "This code can no longer be changed.")


def retry_answer(retried: bool, lang: str = "en") -> str:
    if retried:
        return gettext(lang, "Trying again.")
    return gettext(lang, "Not failed any more: nothing to retry.")


def retry_button(problem: str, lang: str = "en") -> str:
    return gettext(lang, "🔁 Retry: %(problem)s", problem=problem)


def digest_heading(project_name: str, lang: str = "en") -> str:
    return gettext(
        lang, "🗞 <b>%(project)s</b> — your daily summary", project=esc(project_name)
    )


def digest_needs_attention(lang: str = "en") -> str:
    return gettext(lang, "<b>Needs attention</b>")


def digest_more_in_dashboard(count: int, lang: str = "en") -> str:
    return ngettext(
        lang, "…and %(num)s more in the dashboard.", "…and %(num)s more in the dashboard.", count
    )


def digest_access_ended(count: int, lang: str = "en") -> str:
    return gettext(lang, "<b>Access ended</b> (%(num)s)", num=count)


def digest_ended_line(name: str, plan_name: str, reason: str | None, lang: str = "en") -> str:
    reasons = {
        "rolled_back": lambda: gettext(lang, "rolled back"),
        "ended_by_owner": lambda: gettext(lang, "ended by you"),
    }
    why = reasons.get(reason or "", lambda: gettext(lang, "period over"))()
    return f"• {esc(name)} — {esc(plan_name)} ({esc(why)})"


def digest_more(count: int, lang: str = "en") -> str:
    return ngettext(lang, "…and %(num)s more.", "…and %(num)s more.", count)


# ---- the command menu (setMyCommands) -------------------------------------------------------

CUSTOMER_COMMANDS = [
    ("start", N_("Activate an access code or see the plans")),
    ("help", N_("What this bot does")),
    ("cancel", N_("Stop what you are doing")),
]
OWNER_COMMANDS = CUSTOMER_COMMANDS + [("newcode", N_("Create access codes"))]


def customer_commands(lang: str = "en") -> list[tuple[str, str]]:
    """The customers' menu in one language (Telegram shows the one of the user's language)."""
    return [(command, gettext(lang, description)) for command, description in CUSTOMER_COMMANDS]


def owner_commands(lang: str = "en") -> list[tuple[str, str]]:
    """The owner's menu, set for the owner's chat alone, in the owner's language."""
    return [(command, gettext(lang, description)) for command, description in OWNER_COMMANDS]


def reconcile_report(report, lang: str = "en") -> str:
    """What the reconciler changed in one chat, for the owner."""
    lines = [gettext(
        lang, "🔄 <b>%(title)s</b> was compared with Admit's records:", title=esc(report.title)
    )]
    # Literal msgids in each call, so that extraction finds them.
    for names, line in (
        (report.joins, lambda n, shown: ngettext(
            lang, "%(num)s joined without the bot seeing it: %(names)s",
            "%(num)s joined without the bot seeing it: %(names)s", n, names=shown)),
        (report.leaves, lambda n, shown: ngettext(
            lang, "%(num)s left without the bot seeing it: %(names)s",
            "%(num)s left without the bot seeing it: %(names)s", n, names=shown)),
        (report.removed, lambda n, shown: ngettext(
            lang, "%(num)s in without access, being removed: %(names)s",
            "%(num)s in without access, being removed: %(names)s", n, names=shown)),
    ):
        if names:
            shown = ", ".join(esc(n) for n in names[:10])
            if len(names) > 10:
                shown += ngettext(lang, " and %(num)s more", " and %(num)s more", len(names) - 10)
            lines.append("• " + line(len(names), shown))
    if report.links_to_revoke:
        lines.append("• " + ngettext(
            lang, "%(num)s used invite link revoked", "%(num)s used invite links revoked",
            len(report.links_to_revoke),
        ))
    return "\n".join(lines)
