"""``flask --app webapp owner create EMAIL`` for operators and scripts."""

from sqlalchemy import func, select

from webapp.domain.accounts import authenticate
from webapp.extensions import db
from webapp.models import Owner


def test_owner_create_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(
        args=["owner", "create", "Ann@Example.com", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created owner ann@example.com" in result.output
    with app.app_context():
        assert authenticate(db.session, "ann@example.com", "a long enough password") is not None


def test_owner_create_refuses_a_short_password_and_creates_nothing(app, runner):
    result = runner.invoke(
        args=["owner", "create", "ann@example.com", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0
    assert "password" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Owner)) == 0


def test_owner_create_refuses_a_duplicate_email(app, runner):
    args = ["owner", "create", "ann@example.com", "--password-stdin"]
    assert runner.invoke(args=args, input="a long enough password\n").exit_code == 0
    again = runner.invoke(args=args, input="another long password\n")
    assert again.exit_code != 0 and "cannot be used for a new account" in again.output
