from flask_babel import gettext
from flask_babel import lazy_gettext as _l
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
        _l("Plan name"),
        validators=[
            InputRequired(_l("Give the plan a name, e.g. “Gold Club, 3 months”.")),
            Length(max=MAX_NAME, message=_l("Use at most %(num)s characters.", num=MAX_NAME)),
        ],
    )
    resources = MultiCheckboxField(
        _l("Channels and groups it opens"), coerce=int, validate_choice=False
    )
    period_unit = RadioField(
        _l("Access lasts"),
        choices=[
            SelectChoice("day", _l("Days")),
            SelectChoice("month", _l("Months")),
            SelectChoice("lifetime", _l("Lifetime")),
        ],
        default="month",
        validate_choice=False,
    )
    period_count = IntegerField(
        _l("Number of days or months"), invalid_value_message=_l("Enter a whole number, like 3.")
    )
    renewal_text = TextAreaField(
        _l("Renewal text"),
        validators=[
            Optional(),
            Length(
                max=MAX_RENEWAL_TEXT,
                message=_l("Use at most %(num)s characters.", num=MAX_RENEWAL_TEXT),
            ),
        ],
    )

    def __init__(self, *args, resources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.resources.choices = [SelectChoice(r.id, _label(r)) for r in resources]

    def validate_resources(self, field):
        if not field.data:
            raise ValidationError(gettext("Pick at least one channel or group."))
        allowed = {choice.value for choice in field.choices}
        if not set(field.data) <= allowed:
            raise ValidationError(gettext("Pick channels and groups of this project only."))

    def validate_period_unit(self, field):
        if field.data not in ("day", "month", "lifetime"):
            raise ValidationError(gettext("Choose days, months or lifetime."))

    def validate_period_count(self, field):
        unit = self.period_unit.data
        if unit not in MAX_PERIOD:
            field.errors[:] = []  # a lifetime plan has no count; whatever was typed is ignored
            raise StopValidation()
        raw = field.raw_data[0].strip() if field.raw_data else ""
        if not raw and field.data is None:
            field.errors[:] = []
            raise ValidationError(
                gettext("Enter how many days the access lasts.")
                if unit == "day"
                else gettext("Enter how many months the access lasts.")
            )
        if field.errors:
            return  # not a number: IntegerField said so already
        if not 1 <= field.data <= MAX_PERIOD[unit]:
            limit = MAX_PERIOD[unit]
            raise ValidationError(
                gettext("Enter a whole number of days from 1 to %(limit)s.", limit=limit)
                if unit == "day"
                else gettext("Enter a whole number of months from 1 to %(limit)s.", limit=limit)
            )


def _label(resource) -> str:
    """The chat's title, with a warning when the bot could not let people in or out there."""
    if not resource.bot_is_admin:
        return gettext(
            "%(chat)s — ⚠ the bot is not an administrator: nobody can join or be removed",
            chat=resource.title,
        )
    invite, ban = resource.can_invite_users, resource.can_restrict_members
    if not invite and not ban:
        return gettext(
            "%(chat)s — ⚠ the bot cannot invite (new customers cannot join) or ban (removals "
            "will fail)",
            chat=resource.title,
        )
    if not invite:
        return gettext(
            "%(chat)s — ⚠ the bot cannot invite (new customers cannot join)", chat=resource.title
        )
    if not ban:
        return gettext("%(chat)s — ⚠ the bot cannot ban (removals will fail)", chat=resource.title)
    return resource.title
