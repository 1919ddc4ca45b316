from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from webapp.dashboard.rendering import timezone_names
from webapp.i18n import LANGUAGES


class AccountForm(FlaskForm):
    timezone = SelectField(
        "Time zone",
        validators=[InputRequired("Pick a time zone.")],
        validate_choice=False,
    )

    language = SelectField(
        "The bot's language for you",
        description="What your bot writes to you: /newcode and the activation notices.",
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
        "Current password", validators=[InputRequired("Enter your current password.")]
    )
    new_password = PasswordField(
        "New password", validators=[InputRequired("Enter the new password.")]
    )
    repeat_password = PasswordField(
        "Repeat the new password", validators=[InputRequired("Enter the new password again.")]
    )
