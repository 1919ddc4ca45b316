from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from webapp.domain.projects import MAX_CONTACT, MAX_NAME


class ProjectForm(FlaskForm):
    name = StringField(
        _l("Project name"),
        validators=[
            InputRequired(_l("Give the project a name.")),
            Length(max=MAX_NAME, message=_l("Use at most %(num)s characters.", num=MAX_NAME)),
        ],
    )
    # A password input: the token is a secret and should not linger on screen or in autofill.
    bot_token = PasswordField(
        _l("Bot token"), validators=[InputRequired(_l("Paste the bot token from @BotFather."))]
    )


class RenameProjectForm(FlaskForm):
    name = StringField(
        _l("Project name"),
        validators=[
            InputRequired(_l("Give the project a name.")),
            Length(max=MAX_NAME, message=_l("Use at most %(num)s characters.", num=MAX_NAME)),
        ],
    )
    contact = StringField(
        _l("How customers reach you"),
        validators=[
            Length(
                max=MAX_CONTACT, message=_l("Use at most %(num)s characters.", num=MAX_CONTACT)
            )
        ],
    )


class ResourceForm(FlaskForm):
    chat = StringField(
        _l("Channel or group"),
        validators=[
            InputRequired(_l("Enter the channel's or group's @username or its chat id.")),
            Length(max=200, message=_l("That is too long for a username or chat id.")),
        ],
    )


class BotTokenForm(FlaskForm):
    # A password input, like the first token: it is a secret.
    bot_token = PasswordField(
        _l("New bot token"),
        validators=[InputRequired(_l("Paste the new bot token from @BotFather."))],
    )


class StrictBooleanField(BooleanField):
    """A checkbox that refuses values no checkbox sends, instead of reading them as "on"."""

    def pre_validate(self, form):
        raw = self.raw_data[0] if self.raw_data else None
        if raw not in (None, "", "y", "on", "1", "true"):
            raise ValidationError(gettext("“%(value)s” is not a checkbox value", value=raw[:20]))


class JoinModeForm(FlaskForm):
    join_by_request = StrictBooleanField(_l("Join by request"))
    decline_strangers = StrictBooleanField(_l("Decline requests from people without access"))
