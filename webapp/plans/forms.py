from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    InputRequired,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.domain.plans import MAX_NAME, MAX_PERIOD, MAX_RENEWAL_TEXT


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PlanForm(FlaskForm):
    name = StringField(
        "Plan name",
        validators=[
            InputRequired("Give the plan a name, e.g. “Gold Club, 3 months”."),
            Length(max=MAX_NAME, message=f"Use at most {MAX_NAME} characters."),
        ],
    )
    resources = MultiCheckboxField(
        "Channels and groups it opens", coerce=int, validate_choice=False
    )
    period_unit = RadioField(
        "Access lasts",
        choices=[
            SelectChoice("day", "Days"),
            SelectChoice("month", "Months"),
            SelectChoice("lifetime", "Lifetime"),
        ],
        default="month",
        validate_choice=False,
    )
    period_count = IntegerField(
        "Number of days or months", invalid_value_message="Enter a whole number, like 3."
    )
    renewal_text = TextAreaField(
        "Renewal text",
        validators=[
            Optional(),
            Length(max=MAX_RENEWAL_TEXT, message=f"Use at most {MAX_RENEWAL_TEXT} characters."),
        ],
    )

    def __init__(self, *args, resources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.resources.choices = [SelectChoice(r.id, _label(r)) for r in resources]

    def validate_resources(self, field):
        if not field.data:
            raise ValidationError("Pick at least one channel or group.")
        allowed = {choice.value for choice in field.choices}
        if not set(field.data) <= allowed:
            raise ValidationError("Pick channels and groups of this project only.")

    def validate_period_unit(self, field):
        if field.data not in ("day", "month", "lifetime"):
            raise ValidationError("Choose days, months or lifetime.")

    def validate_period_count(self, field):
        unit = self.period_unit.data
        if unit not in MAX_PERIOD:
            field.errors[:] = []  # a lifetime plan has no count; whatever was typed is ignored
            raise StopValidation()
        raw = field.raw_data[0].strip() if field.raw_data else ""
        if not raw and field.data is None:
            field.errors[:] = []
            raise ValidationError(f"Enter how many {unit}s the access lasts.")
        if field.errors:
            return  # not a number: IntegerField said so already
        if not 1 <= field.data <= MAX_PERIOD[unit]:
            raise ValidationError(f"Enter a whole number of {unit}s from 1 to {MAX_PERIOD[unit]}.")


def _label(resource) -> str:
    """The chat's title, with a warning when the bot could not let people in or out there."""
    if not resource.bot_is_admin:
        return (
            f"{resource.title} — ⚠ the bot is not an administrator: nobody can join or be removed"
        )
    missing = [
        what
        for what, has in (
            ("invite (new customers cannot join)", resource.can_invite_users),
            ("ban (removals will fail)", resource.can_restrict_members),
        )
        if not has
    ]
    if missing:
        return f"{resource.title} — ⚠ the bot cannot {' or '.join(missing)}"
    return resource.title
