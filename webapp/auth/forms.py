from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from webapp.domain.accounts import MIN_PASSWORD


class SignupForm(FlaskForm):
    email = EmailField(
        _l("E-mail"), validators=[InputRequired(_l("Enter your e-mail address.")), Length(max=254)]
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Choose a password.")),
            Length(
                min=MIN_PASSWORD, message=_l("Use at least %(num)s characters.", num=MIN_PASSWORD)
            ),
            Length(max=200, message=_l("Use at most 200 characters.")),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            InputRequired(_l("Type the password again.")),
            EqualTo("password", _l("The two passwords differ.")),
        ],
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[InputRequired(_l("Enter your e-mail address."))])
    password = PasswordField(_l("Password"), validators=[InputRequired(_l("Enter your password."))])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[InputRequired(_l("Enter your e-mail address."))])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("New password"), validators=[InputRequired(_l("Enter the new password."))]
    )
    repeat_password = PasswordField(
        _l("Repeat the new password"),
        validators=[InputRequired(_l("Enter the new password again."))],
    )
