"""The new-code wizard's answers: carried from step to step in hidden fields, checked per step.

The wizard is four steps (plan → max activations → expiry → single or bulk). Every answer given so
far travels with each request, so going back and forth never loses input, and nothing is written
until the last step passes both these checks and the domain's own (``create_codes``).
"""

from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from webapp.dashboard.rendering import domain_message
from webapp.domain.codes import EXPIRY_PRESETS, MAX_ACTIVATIONS, MAX_BATCH, CodeRequest
from webapp.domain.codes import expiry_from_preset as preset_expiry
from webapp.domain.errors import InvalidInput
from webapp.domain.ids import parse_id
from webapp.i18n import D_

STEPS = ("plan", "activations", "expiry", "kind")
STEP_TITLES = {
    "plan": _l("Plan"),
    "activations": _l("Activations"),
    "expiry": _l("Expiry"),
    "kind": _l("Single or bulk"),
}
# Which step shows the message of each field the domain may name.
FIELD_STEP = {
    "plan": "plan",
    "plan_id": "plan",
    "max_activations": "activations",
    "expiry": "expiry",
    "expiry_date": "expiry",
    "kind": "kind",
    "count": "kind",
    "custom_code": "kind",
    "note": "kind",
}
# The domain's labels (marked with D_) in the dashboard's language.
EXPIRY_CHOICES = {
    **{key: _l(label) for key, label in EXPIRY_PRESETS.items()},
    "custom": _l("Pick a date…"),
}
ACTIVATION_SUGGESTIONS = (1, 5, 10, 100)
NOTE_MAX = 255
DATE_INPUT = "%Y-%m-%dT%H:%M"
# Like the bot's /newcode: a code meant to work "forever" is made without an expiry.
MAX_EXPIRY_YEARS = 10


@dataclass
class WizardAnswers:
    """Raw form text of every answer (kept verbatim so a form re-renders exactly as typed)."""

    plan_id: str = ""
    max_activations: str = "1"
    expiry: str = "never"
    expiry_date: str = ""
    kind: str = "single"
    count: str = "10"
    custom_code: str = ""
    note: str = ""
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_form(cls, form) -> "WizardAnswers":
        values = {}
        for f in fields(cls):
            if f.name != "errors" and f.name in form:
                values[f.name] = form.get(f.name, "").strip()
        return cls(**values)

    def hidden_fields(self, step: str) -> list[tuple[str, str]]:
        """The answers that belong to other steps than ``step``, to carry in hidden inputs."""
        own = {name for name, s in FIELD_STEP.items() if s == step}
        return [
            (f.name, getattr(self, f.name))
            for f in fields(self)
            if f.name != "errors" and f.name not in own
        ]

    def with_error(self, exc: InvalidInput) -> "WizardAnswers":
        return replace(self, errors={exc.field: domain_message(exc)})

    # -- parsing, step by step ------------------------------------------------------------------

    def plan_id_value(self) -> int:
        if not self.plan_id:
            raise InvalidInput("plan", D_("Choose a plan."))
        # parse_id: a number past the database's integers is no plan, not a failing query.
        plan_id = parse_id(self.plan_id)
        if plan_id is None:
            raise InvalidInput("plan", D_("Choose one of your plans."))
        return plan_id

    def max_activations_value(self) -> int:
        try:
            value = int(self.max_activations.replace(",", "").replace("_", ""))
        except ValueError:
            raise InvalidInput(
                "max_activations", D_("Enter a whole number, e.g. 1 or 10.")
            ) from None
        if not 1 <= value <= MAX_ACTIVATIONS:
            raise InvalidInput.marked(
                "max_activations",
                D_("Max activations must be between 1 and %(max)s."),
                max=f"{MAX_ACTIVATIONS:,}",
            )
        return value

    def expires_at_value(self, tz: ZoneInfo, now: datetime) -> datetime | None:
        """The expiry in UTC; a custom date is read in the owner's time zone ``tz``."""
        if self.expiry not in EXPIRY_CHOICES:
            raise InvalidInput("expiry", D_("Choose one of the offered expiry periods."))
        if self.expiry != "custom":
            return preset_expiry(self.expiry, now)
        if not self.expiry_date:
            raise InvalidInput(
                "expiry_date", D_("Pick the date and time the code stops working.")
            )
        try:
            local = datetime.strptime(self.expiry_date, DATE_INPUT)
        except ValueError:
            raise InvalidInput(
                "expiry_date", D_("Enter a date and time like 2027-01-31 18:00.")
            ) from None
        within = InvalidInput.marked(
            "expiry_date",
            D_("Pick a date within the next %(years)s years."),
            years=MAX_EXPIRY_YEARS,
        )
        past = InvalidInput("expiry_date", D_("The expiry date must be in the future."))
        try:
            moment = local.replace(tzinfo=tz).astimezone(now.tzinfo)
        except OverflowError:  # before year 1 or after 9999 once in UTC
            raise (past if local.year < 100 else within) from None
        if moment <= now:
            raise past
        if moment.date() > date(now.year + MAX_EXPIRY_YEARS, 12, 31):
            raise within
        return moment

    def count_value(self) -> int:
        if self.kind == "single":
            return 1
        try:
            value = int(self.count)
        except ValueError:
            raise InvalidInput("count", D_("Enter how many codes to make, 1 to 500.")) from None
        if not 1 <= value <= MAX_BATCH:
            raise InvalidInput.marked(
                "count", D_("A bulk generation makes between 1 and %(num)s codes."), num=MAX_BATCH
            )
        return value

    def check_kind(self) -> None:
        if self.kind not in ("single", "bulk"):
            raise InvalidInput("kind", D_("Choose a single code or a bulk generation."))
        self.count_value()
        if len(self.note) > NOTE_MAX:
            raise InvalidInput.marked(
                "note", D_("Keep the note under %(num)s characters."), num=NOTE_MAX
            )

    def check_step(self, step: str, tz: ZoneInfo, now: datetime) -> None:
        """Raise ``InvalidInput`` for the first wrong answer of ``step``."""
        if step == "plan":
            self.plan_id_value()
        elif step == "activations":
            self.max_activations_value()
        elif step == "expiry":
            self.expires_at_value(tz, now)
        elif step == "kind":
            self.check_kind()

    def to_request(self, tz: ZoneInfo, now: datetime) -> CodeRequest:
        """The domain request, or ``InvalidInput`` naming the first wrong answer of any step."""
        plan_id = self.plan_id_value()
        max_activations = self.max_activations_value()
        expires_at = self.expires_at_value(tz, now)
        self.check_kind()
        single = self.kind == "single"
        return CodeRequest(
            plan_id=plan_id,
            max_activations=max_activations,
            expires_at=expires_at,
            count=self.count_value(),
            custom_code=(self.custom_code or None) if single else None,
            note=self.note or None,
        )


def next_step(step: str) -> str:
    return STEPS[min(STEPS.index(step) + 1, len(STEPS) - 1)]


def previous_step(step: str) -> str:
    return STEPS[max(STEPS.index(step) - 1, 0)]
