"""Operator commands: ``flask --app webapp owner create EMAIL``."""

import sys

import click
from flask import Flask

from webapp.domain.accounts import create_owner
from webapp.domain.errors import InvalidInput, NotFound
from webapp.domain.password_reset import owner_by_email, set_new_password
from webapp.domain.projects import reencrypt_bot_tokens
from webapp.extensions import db
from webapp.models import utcnow


def register(app: Flask) -> None:
    @app.cli.group()
    def owner():
        """Owner accounts."""

    @owner.command("create")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def create(email: str, password_stdin: bool):
        """Create an owner account (the password is asked for, or read from stdin)."""
        if password_stdin or not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            new = create_owner(db.session, email, password, utcnow())
        except InvalidInput as exc:
            raise click.ClickException(f"{exc.field}: {exc.message}") from exc
        db.session.commit()
        click.echo(f"Created owner {new.email} (id {new.id}).")

    @owner.command("reset-password")
    @click.argument("email")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def reset_password(email: str, password_stdin: bool):
        """Set a new password for an owner who cannot reset it through Telegram; every session
        of theirs is logged out."""
        try:
            account = owner_by_email(db.session, email)
        except NotFound as exc:
            raise click.ClickException(f"No owner has the e-mail {email}.") from exc
        if password_stdin or not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
            repeat = password
        else:
            password = click.prompt("New password", hide_input=True)
            repeat = click.prompt("Repeat the new password", hide_input=True)
        try:
            set_new_password(db.session, account, password, repeat, utcnow())
        except InvalidInput as exc:
            raise click.ClickException(f"{exc.field}: {exc.message}") from exc
        db.session.commit()
        click.echo(f"New password set for {account.email}; every session is logged out.")

    @app.cli.group()
    def tokens():
        """Bot tokens encrypted at rest."""

    @tokens.command("rotate")
    def rotate():
        """Re-encrypt every bot token with the first key of TOKEN_ENCRYPTION_KEYS."""
        written = reencrypt_bot_tokens(db.session)
        db.session.commit()
        click.echo(f"Re-encrypted {written} bot token{'s' if written != 1 else ''}.")
