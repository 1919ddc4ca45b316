from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from webapp.domain.projects import MAX_CONTACT, MAX_NAME


class ProjectForm(FlaskForm):
    name = StringField(
        "Project name",
        validators=[
            InputRequired("Give the project a name."),
            Length(max=MAX_NAME, message=f"Use at most {MAX_NAME} characters."),
        ],
    )
    # A password input: the token is a secret and should not linger on screen or in autofill.
    bot_token = PasswordField(
        "Bot token", validators=[InputRequired("Paste the bot token from @BotFather.")]
    )


class RenameProjectForm(FlaskForm):
    name = StringField(
        "Project name",
        validators=[
            InputRequired("Give the project a name."),
            Length(max=MAX_NAME, message=f"Use at most {MAX_NAME} characters."),
        ],
    )
    contact = StringField(
        "How customers reach you",
        validators=[Length(max=MAX_CONTACT, message=f"Use at most {MAX_CONTACT} characters.")],
    )


class ResourceForm(FlaskForm):
    chat = StringField(
        "Channel or group",
        validators=[
            InputRequired("Enter the channel's or group's @username or its chat id."),
            Length(max=200, message="That is too long for a username or chat id."),
        ],
    )


class BotTokenForm(FlaskForm):
    # A password input, like the first token: it is a secret.
    bot_token = PasswordField(
        "New bot token", validators=[InputRequired("Paste the new bot token from @BotFather.")]
    )


class StrictBooleanField(BooleanField):
    """A checkbox that refuses values no checkbox sends, instead of reading them as "on"."""

    def pre_validate(self, form):
        raw = self.raw_data[0] if self.raw_data else None
        if raw not in (None, "", "y", "on", "1", "true"):
            raise ValidationError(f"“{raw[:20]}” is not a checkbox value")


class JoinModeForm(FlaskForm):
    join_by_request = StrictBooleanField("Join by request")
    decline_strangers = StrictBooleanField("Decline requests from people without access")
