"""Every way the domain says no, each its own type so callers can word it for their audience."""


class DomainError(Exception):
    """Base of every refusal; ``str()`` is a message fit for an owner."""


class InvalidInput(DomainError):
    """A value an owner entered is wrong; ``field`` names it for forms."""

    def __init__(self, field: str, message: str, template: str | None = None, **params):
        super().__init__(message)
        self.field = field
        self.message = message
        # For the bot, which words refusals in the owner's language: the untranslated message
        # (a msgid of the bot catalogue, marked with ``webapp.i18n.N_``) and its values. The
        # dashboard words its own from ``message`` (marked ``D_``, or a ``webapp.i18n.Worded``).
        self.template = template
        self.params = params

    @classmethod
    def worded(cls, field: str, template: str, **params) -> "InvalidInput":
        """An ``InvalidInput`` worded in English from ``template``, translatable later."""
        from webapp.i18n import DEFAULT_LANGUAGE, gettext

        return cls(field, gettext(DEFAULT_LANGUAGE, template, **params), template, **params)

    @classmethod
    def marked(cls, field: str, template: str, **params) -> "InvalidInput":
        """An ``InvalidInput`` shown in the dashboard: ``template`` (marked with
        ``webapp.i18n.D_``) with ``params`` put in, which the dashboard words in its language."""
        from webapp.i18n import Worded

        return cls(field, Worded(template, **params))


class NotFound(DomainError):
    """The thing does not exist or belongs to someone else (callers answer 404 either way)."""


class ActivationRefused(DomainError):
    """Base of the refusals a customer can get for a code."""


class UnknownCode(ActivationRefused):
    """No such code in this project, or it was rolled back (customers are told the same)."""


class CodeExpired(ActivationRefused):
    pass


class CodeUsedUp(ActivationRefused):
    pass


class CodePaused(ActivationRefused):
    """The owner paused the code; it may work again later."""


class AlreadyActivated(ActivationRefused):
    pass


class TooManyAttempts(ActivationRefused):
    def __init__(self, retry_after_seconds: int):
        super().__init__(f"too many wrong codes; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds
