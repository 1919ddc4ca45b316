from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from webapp.dashboard.rendering import timezone_names
from webapp.i18n import LANGUAGES


class AccountForm(FlaskForm):
    timezone = SelectField(
        _l("Time zone"),
        validators=[InputRequired(_l("Pick a time zone."))],
        validate_choice=False,
    )

    language = SelectField(
        _l("The bot's language for you"),
        description=_l("What your bot writes to you: /newcode and the activation notices."),
        choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()],
        # Checked by the domain; a form that leaves it out keeps the current language.
        validate_choice=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [
            SelectChoice(name, name.replace("_", " ")) for name in timezone_names()
        ]


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[InputRequired(_l("Enter your current password."))]
    )
    new_password = PasswordField(
        _l("New password"), validators=[InputRequired(_l("Enter the new password."))]
    )
    repeat_password = PasswordField(
        _l("Repeat the new password"),
        validators=[InputRequired(_l("Enter the new password again."))],
    )
