from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from webapp.domain.accounts import MIN_PASSWORD


class SignupForm(FlaskForm):
    email = EmailField(
        "E-mail", validators=[InputRequired("Enter your e-mail address."), Length(max=254)]
    )
    password = PasswordField(
        "Password",
        validators=[
            InputRequired("Choose a password."),
            Length(min=MIN_PASSWORD, message=f"Use at least {MIN_PASSWORD} characters."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[
            InputRequired("Type the password again."),
            EqualTo("password", "The two passwords differ."),
        ],
    )


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[InputRequired("Enter your e-mail address.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", validators=[InputRequired("Enter your e-mail address.")])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        "New password", validators=[InputRequired("Enter the new password.")]
    )
    repeat_password = PasswordField(
        "Repeat the new password", validators=[InputRequired("Enter the new password again.")]
    )
