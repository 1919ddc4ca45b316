"""Everything the bot says. HTML parse mode: every interpolated value goes through ``esc``."""

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from webapp.domain.codes import MAX_BATCH, activation_link


def esc(value) -> str:
    return escape(str(value), quote=False)


def when(moment: datetime, timezone: str | None = None) -> str:
    """26 Feb 2027, 14:05 (UTC), or the wall-clock time in ``timezone`` with its name.

    Customers have no time zone of their own, so they read UTC; owners read their own
    (``Owner.timezone``), the one they type dates in.
    """
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M} ({esc(zone.key)})"


def plan_label(project_name: str, plan_name: str) -> str:
    return f"{esc(project_name)}, {esc(plan_name)}"


def person(first_name, last_name, username, telegram_user_id) -> str:
    """@ann (Ann Lee, id 5001)"""
    name = " ".join(p for p in (first_name, last_name) if p)
    details = f"{esc(name)}, id {telegram_user_id}" if name else f"id {telegram_user_id}"
    if username:
        return f"<b>@{esc(username)}</b> ({details})"
    return f"<b>{details}</b>"


# ---- customers ------------------------------------------------------------------------------

def welcome(project_name: str, has_plans: bool) -> str:
    text = f"👋 Welcome to <b>{esc(project_name)}</b>!\n\n"
    if has_plans:
        return text + (
            "If you have an activation link, just tap it. To type an access code instead, "
            "choose your plan below and tap <b>Access code</b>."
        )
    return text + "There is nothing to join here yet. Please check back later."


def plan_chosen(project_name: str, plan_name: str, period: str) -> str:
    return (
        f"<b>{plan_label(project_name, plan_name)}</b> ({esc(period)}).\n"
        "Tap <b>Access code</b> to enter the code you were given."
    )


def ask_code(plan_name: str) -> str:
    return (
        f"Please type your access code for <b>{esc(plan_name)}</b> "
        "(for example <code>K7QF-M2XD-9PRT</code>). Send /cancel to stop."
    )


def activated(project_name: str, plan_name: str, ends_at: datetime | None, extended: bool) -> str:
    head = f"✅ Code accepted — <b>{plan_label(project_name, plan_name)}</b>."
    if ends_at is None:
        access = "Your access is <b>lifetime</b>."
    elif extended:
        access = f"Your access has been extended until <b>{when(ends_at)}</b>."
    else:
        access = f"Your access runs until <b>{when(ends_at)}</b>."
    return f"{head} {access}"


def join_hint(has_links: bool, pending_titles: list[str]) -> str:
    parts = []
    if has_links:
        parts.append("Tap the button below to join. Each link is for you alone and works once.")
    if pending_titles:
        names = ", ".join(f"<b>{esc(t)}</b>" for t in pending_titles)
        parts.append(
            f"Your join link for {names} could not be made just now; it will follow here "
            "shortly. Your access is already recorded."
        )
    return "\n\n".join(parts)


def join_links_ready(project_name: str, plan_name: str) -> str:
    return (
        f"🔗 Your join links for <b>{plan_label(project_name, plan_name)}</b> are ready. "
        "Each link is for you alone and works once."
    )


def unknown_code() -> str:
    return (
        "Sorry, this code is not valid. Please check it and try again, or contact the owner "
        "who gave it to you."
    )


def unknown_code_last_try(attempts_left: int) -> str:
    if attempts_left <= 0:
        return unknown_code() + "\n\nToo many wrong codes: please wait 10 minutes to try again."
    if attempts_left == 1:
        return unknown_code() + "\n\nYou have 1 try left before you have to wait 10 minutes."
    return unknown_code()


def code_expired() -> str:
    return (
        "This code has expired and can no longer be used. If you paid for access, please "
        "contact the owner."
    )


def code_used_up() -> str:
    return (
        "This code has already been used the maximum number of times. If you paid for access, "
        "please contact the owner."
    )


def already_activated(label: str | None, ends_at: datetime | None, active: bool) -> str:
    """Also the answer to an update delivered again after a crash, so it reads as a confirmation.

    ``label`` is already HTML (see ``plan_label``).
    """
    text = "You have already activated this code."
    if not active:
        return text + " The access it gave has ended."
    access = f"Your access to <b>{label}</b>"
    if ends_at is None:
        return f"{text} {access} is <b>lifetime</b>."
    return f"{text} {access} runs until <b>{when(ends_at)}</b>."


def guessing_alert(accounts: int) -> str:
    return (
        f"🚨 At least {accounts} Telegram accounts sent wrong codes to this bot in the last "
        "10 minutes: someone may be guessing codes. New accounts get one try per 10 minutes "
        "for now; your customers are not slowed down. Long random codes are safe; short "
        "custom codes are the ones at risk."
    )


def too_many_attempts(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many wrong codes. For your security, please wait "
        f"<b>{minutes} {unit}</b> and try again."
    )


def not_a_code() -> str:
    return "That does not look like an access code. Please check it and try again."


def nothing_pending() -> str:
    return (
        "To use an access code, tap its activation link, or send /start, choose your plan and "
        "tap <b>Access code</b>."
    )


def cancelled() -> str:
    return "Cancelled. Send /start to begin again."


def nothing_to_cancel() -> str:
    return "There is nothing to cancel."


def help_text(is_owner: bool) -> str:
    text = (
        "<b>How it works</b>\n"
        "• Tap the activation link you were given, or\n"
        "• send /start, choose your plan, tap <b>Access code</b> and type the code.\n"
        "You then get one <b>Join</b> button per channel or group.\n\n"
        "/start — begin\n/cancel — stop what you are doing"
    )
    if is_owner:
        text += "\n/newcode — make access codes (owner)"
    return text


def unknown_command() -> str:
    return "I don't know that command. Send /help to see what I can do."


def text_only() -> str:
    return "I can only read text messages. Send /help to see what I can do."


def something_went_wrong() -> str:
    return "Sorry, something went wrong on our side. Please try again in a moment."


def button_gone() -> str:
    return "This button no longer works. Send /start to begin again."


def join_request_declined(title: str) -> str:
    return (
        f"Your request to join <b>{esc(title)}</b> was declined: it needs an active access code. "
        "If you have one, send it to me with /start."
    )


def removed_someone_elses_link(title: str) -> str:
    return (
        f"You were removed from <b>{esc(title)}</b>: that invite link was made for someone "
        "else. To join, activate your own access code here."
    )


def removed_no_access(title: str) -> str:
    return (
        f"You were removed from <b>{esc(title)}</b>: your access is no longer active. "
        "To join again, activate a new access code here."
    )


# ---- owners ---------------------------------------------------------------------------------

def owner_linked(email: str) -> str:
    return (
        f"✅ This Telegram account is now linked to <b>{esc(email)}</b>. You will get a notice "
        "here when someone activates a code, and you can make codes with /newcode."
    )


def owner_link_invalid() -> str:
    return (
        "This owner link is not valid or has already been used. Make a new one in the "
        "dashboard (Settings → Telegram)."
    )


def owner_notice(who: str, code: str, project_name: str, plan_name: str, left: int, total: int):
    return (
        f"🔑 {who} activated <code>{esc(code)}</code> → "
        f"<b>{plan_label(project_name, plan_name)}</b>. {left} of {total} activations left."
    )


def owner_notice_links_pending(titles: list[str]) -> str:
    names = ", ".join(f"<b>{esc(t)}</b>" for t in titles)
    return (
        f"⚠️ The join link for {names} could not be made; it will be retried. "
        "Check that the bot is still an administrator there with the right to invite users."
    )


def resource_added(title: str, chat_type: str, missing: tuple[str, ...]) -> str:
    text = (
        f"✅ The bot is now an administrator of the {esc(chat_type)} <b>{esc(title)}</b>. "
        "Add it to a plan in the dashboard."
    )
    if chat_type == "group":
        text += (
            "\n\nℹ️ This is a basic group: it works, and when Telegram upgrades it to a "
            "supergroup (after you make its history visible to new members or give it a public "
            "link) Admit moves along with it, plans and members included."
        )
    return text + _missing_rights(missing)


def resource_pending(chat_type: str, chat_id: int) -> str:
    # No title: whoever promoted the bot chose it, and it could say anything.
    return (
        f"⚠️ Someone else made the bot an administrator of a {esc(chat_type)} (id {chat_id}). "
        "It is not used until you accept it on the project's page in the dashboard."
    )


def resource_updated(title: str, missing: tuple[str, ...]) -> str:
    if not missing:
        return f"✅ The bot has every right it needs in <b>{esc(title)}</b> again."
    return f"ℹ️ The bot's rights in <b>{esc(title)}</b> changed." + _missing_rights(missing)


def _missing_rights(missing: tuple[str, ...]) -> str:
    if not missing:
        return ""
    return (
        "\n\n⚠️ It still needs the right to "
        + " and ".join(esc(m) for m in missing)
        + ", or customers cannot be admitted and removed there."
    )


def resource_not_admin(title: str, chat_type: str) -> str:
    return (
        f"ℹ️ The bot was added to the {esc(chat_type)} <b>{esc(title)}</b> but is not an "
        "administrator there. Make it an administrator with the rights to invite and ban users "
        "to use it in a plan."
    )


def resource_lost(title: str) -> str:
    return (
        f"⚠️ The bot is no longer an administrator of <b>{esc(title)}</b>. Customers cannot be "
        "admitted or removed there until you make it an administrator again "
        "(with the rights to invite and ban users)."
    )


def not_owner() -> str:
    return "Only the owner of this bot can make codes, after linking their Telegram account."


def newcode_no_plans(project_name: str) -> str:
    return (
        f"<b>{esc(project_name)}</b> has no active plan yet. Create one in the dashboard, "
        "then send /newcode again."
    )


def newcode_gone() -> str:
    return "This button belongs to a finished or older /newcode. Send /newcode to start again."


def newcode_prompt(prompt) -> str:
    step = prompt.step
    if step == "project":
        return "Which project?"
    context = []
    if prompt.project_name:
        context.append(esc(prompt.project_name))
    if prompt.plan_name:
        context.append(esc(prompt.plan_name))
    if prompt.max_activations:
        n = prompt.max_activations
        context.append(f"max {n:,} activation{'' if n == 1 else 's'}")
    if step in ("kind", "count_typed"):  # the expiry is answered by now
        expires_at = prompt.expires_at
        context.append(f"expires {when(expires_at, prompt.timezone)}" if expires_at
                       else "no expiry")
    head = f"<i>{' → '.join(context)}</i>\n" if context else ""
    questions = {
        "plan": "Which plan?",
        "max": "How many activations?",
        "max_typed": "Type the max number of activations (a whole number).",
        "expiry": "Should the code expire?",
        "expiry_typed": (
            "Type the date the code should stop working, as YYYY-MM-DD "
            "(optionally with HH:MM, in your time zone)."
        ),
        "kind": "One code or many?",
        "count_typed": f"How many codes? Type a number from 2 to {MAX_BATCH}.",
    }
    return head + questions[step]


def newcode_invalid(message: str) -> str:
    return f"⚠️ {esc(message)} Please try again, or send /cancel."


def newcode_single(
    bot_username: str, code: str, expires_at: datetime | None, max_act: int, timezone: str
):
    """The code made by /newcode; its expiry in the owner's ``timezone``."""
    link = activation_link(bot_username, code)
    expiry = f"expires {when(expires_at, timezone)}" if expires_at else "no expiry"
    return (
        f"<code>{esc(code)}</code> — activation link: {esc(link)}\n"
        f"<i>{max_act:,} activation{'s' if max_act != 1 else ''}, {expiry}.</i>"
    )


def newcode_bulk_caption(count: int, plan_name: str) -> str:
    """Plain text: document captions are sent without a parse mode."""
    return f"📎 {count} codes for {plan_name}. The same file is in the dashboard."


def newcode_bulk_not_sent(count: int) -> str:
    return (
        f"{count} codes were made, but the file could not be sent. Download it from the "
        "dashboard (Access codes → batches)."
    )


# ---- the command menu (setMyCommands) -------------------------------------------------------

CUSTOMER_COMMANDS = [
    ("start", "Activate an access code or see the plans"),
    ("help", "What this bot does"),
    ("cancel", "Stop what you are doing"),
]
OWNER_COMMANDS = CUSTOMER_COMMANDS + [("newcode", "Create access codes")]


def reconcile_report(report) -> str:
    """What the reconciler changed in one chat, for the owner."""
    lines = [f"🔄 <b>{esc(report.title)}</b> was compared with Admit's records:"]
    for label, names in (
        ("joined without the bot seeing it", report.joins),
        ("left without the bot seeing it", report.leaves),
        ("in without access, being removed", report.removed),
    ):
        if names:
            shown = ", ".join(esc(n) for n in names[:10])
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            lines.append(f"• {len(names)} {label}: {shown}{more}")
    if report.links_to_revoke:
        lines.append(f"• {len(report.links_to_revoke)} used invite link(s) revoked")
    return "\n".join(lines)
