from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from webapp.dashboard.rendering import timezone_names


class AccountForm(FlaskForm):
    timezone = SelectField(
        "Time zone",
        validators=[InputRequired("Pick a time zone.")],
        validate_choice=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [
            SelectChoice(name, name.replace("_", " ")) for name in timezone_names()
        ]
