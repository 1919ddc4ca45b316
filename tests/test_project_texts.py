"""The owner's own texts: per project and language, checked when saved, previewed as sent."""

import pytest
from markupsafe import escape
from sqlalchemy import select

from tests.conftest import NOW
from tests.dashboard_helpers import HTMX, count, data, fetch, is_fragment, text
from tests.factories import make_owner, make_plan, make_project, make_resource
from webapp.domain import owner_texts, telegram_html
from webapp.domain.errors import InvalidInput
from webapp.models import Owner, Project, ProjectText


@pytest.fixture
def project_id(app, logged_in_owner):
    with data(app) as session:
        project = make_project(session.get(Owner, logged_in_owner.id), name="Gold Club")
        channel = make_resource(project, "Gold Club Channel")
        make_plan(project, name="3 months", resources=[channel])
        new_id = project.id
    return new_id


def _texts(**templates):
    return {key: templates.get(key, "") for key in owner_texts.KINDS}


def test_the_texts_page_previews_each_message_exactly_as_the_bot_sends_it(
    app, client, project_id
):
    page = client.get(f"/projects/{project_id}/texts?lang=ru")

    assert page.status_code == 200
    body = text(page)
    assert "Your own texts in Русский" in body
    assert "✅ Код принят — <b>Gold Club, 3 months</b>." in body
    assert "Вступить: Gold Club Channel" in body
    assert "заканчивается завтра" in body
    assert "(UTC)" in body


def test_a_saved_override_is_stored_for_its_language_and_shown_in_the_preview(
    app, client, project_id
):
    response = client.post(
        f"/projects/{project_id}/texts",
        data={"lang": "ru", **_texts(welcome="Привет, {name}! Это <b>{project}</b>.")},
    )

    assert response.status_code == 303
    assert response.headers["Location"] == f"/projects/{project_id}/texts?lang=ru"
    with data(app) as session:
        assert owner_texts.project_texts(session, project_id, "ru") == {
            "welcome": "Привет, {name}! Это <b>{project}</b>."
        }
        assert owner_texts.project_texts(session, project_id, "en") == {}
    body = text(client.get(response.headers["Location"]))
    assert "Привет, Ann! Это <b>Gold Club</b>." in body


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Your access to {plan} ends {when}", "Unknown placeholder {when}"),
        ("Ends {ends", "unmatched"),
        ("Ends {ends:%Y}", "is not a placeholder"),
        ("<b>bold", "never closed"),
        ("<h1>Hello</h1>", "does not support the tag <h1>"),
        ("Fish & chips", "&amp;"),
        ('<a href="javascript:alert(1)">x</a>', "href"),
    ],
)
def test_a_bad_template_is_refused_with_a_message_and_nothing_changes(
    app, client, project_id, template, message
):
    with data(app) as session:
        owner_texts.save_project_texts(
            session, project_id, "en", _texts(renewal="Renew at <b>example.com</b>"), NOW
        )

    response = client.post(
        f"/projects/{project_id}/texts", data={"lang": "en", **_texts(renewal=template)}
    )

    assert response.status_code == 400
    body = text(response)
    assert escape(message) in body
    assert "Not sent like this" in body
    # The input is kept for correcting, and the saved text is untouched.
    assert escape(template) in body
    with data(app) as session:
        assert owner_texts.project_texts(session, project_id, "en") == {
            "renewal": "Renew at <b>example.com</b>"
        }


def test_emptying_a_text_goes_back_to_the_bots_own(app, client, project_id):
    url = f"/projects/{project_id}/texts"
    client.post(url, data={"lang": "es", **_texts(end="¡Hasta pronto!")})
    assert count(app, ProjectText) == 1

    response = client.post(f"/projects/{project_id}/texts", data={"lang": "es", **_texts()})

    assert response.status_code == 303
    assert count(app, ProjectText) == 0


def test_an_unknown_language_is_refused_and_nothing_is_saved(app, client, project_id):
    response = client.post(
        f"/projects/{project_id}/texts", data={"lang": "xx", **_texts(welcome="Hi")}
    )
    assert response.status_code == 400
    assert "Pick a language from the list." in text(response)
    assert count(app, ProjectText) == 0


def test_the_live_preview_is_an_htmx_fragment_of_the_typed_texts(app, client, project_id):
    response = client.post(
        f"/projects/{project_id}/texts/preview?lang=pt_BR",
        data=_texts(confirmation="🎉 {name}, bem-vindo ao {plan} até {ends}!"),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert is_fragment(response)
    body = text(response)
    assert "🎉 Ann, bem-vindo ao Gold Club, 3 months até " in body
    assert "Entrar: Gold Club Channel" in body
    assert count(app, ProjectText) == 0


def test_default_language_and_time_zone_are_saved_and_bad_ones_refused(app, client, project_id):
    response = client.post(
        f"/projects/{project_id}/languages",
        data={"default_language": "uk", "timezone": "Europe/Kyiv"},
    )
    assert response.status_code == 303
    project = fetch(app, Project, project_id)
    assert (project.default_language, project.timezone) == ("uk", "Europe/Kyiv")

    response = client.post(
        f"/projects/{project_id}/languages",
        data={"default_language": "klingon", "timezone": "Europe/Kyiv"},
    )
    assert response.status_code == 400
    assert "Pick a language from the list." in text(response)
    response = client.post(
        f"/projects/{project_id}/languages",
        data={"default_language": "ru", "timezone": "Mars/Base"},
    )
    assert response.status_code == 400
    assert "Pick a time zone from the list." in text(response)
    project = fetch(app, Project, project_id)
    assert (project.default_language, project.timezone) == ("uk", "Europe/Kyiv")


def test_another_owners_project_texts_are_not_found(app, client, logged_in_owner):
    with data(app) as session:
        other = make_project(make_owner("other@example.com"))
        other_id = other.id
    assert client.get(f"/projects/{other_id}/texts").status_code == 404
    response = client.post(f"/projects/{other_id}/texts", data={"lang": "en", **_texts()})
    assert response.status_code == 404
    assert client.post(f"/projects/{other_id}/texts/preview").status_code == 404
    response = client.post(
        f"/projects/{other_id}/languages", data={"default_language": "ru", "timezone": "UTC"}
    )
    assert response.status_code == 404
    with data(app) as session:
        assert session.scalars(select(Project.default_language)).all() == ["en"]


# ---- the rules, in the domain --------------------------------------------------------------


def test_values_put_into_a_template_are_escaped_for_telegram():
    rendered = owner_texts.render("Hi {name}, welcome to {project}", name="<Ann>", project="A&B")
    assert rendered == "Hi &lt;Ann&gt;, welcome to A&amp;B"
    telegram_html.check(rendered)


def test_telegram_html_accepts_what_telegram_parses():
    telegram_html.check(
        '<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <a href="https://t.me/x">link</a> '
        '<code>c</code> <pre>p</pre> <tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">s</span> '
        "<blockquote>q</blockquote> &lt;3 &amp; &#128512;"
    )
    for broken in ("<b><i>x</b></i>", "a > b", "<br>", "<b>", '<span class="x">y</span>'):
        with pytest.raises(telegram_html.HtmlProblem):
            telegram_html.check(broken)


def test_the_contact_has_no_placeholders():
    with pytest.raises(InvalidInput, match="This text may use: none"):
        owner_texts.check_template("contact", "Ask {name}")





# ---- the owner's own language --------------------------------------------------------------


def test_the_owner_picks_the_language_their_bot_writes_to_them_in(app, client, logged_in_owner):
    response = client.post("/account", data={"timezone": "Europe/Kyiv", "language": "uk"})
    assert response.status_code == 302
    assert fetch(app, Owner, logged_in_owner.id).language == "uk"
    assert "your bot writes to you in Українська" in text(client.get("/account"))

    response = client.post("/account", data={"timezone": "Europe/Kyiv", "language": "tlh"})
    assert response.status_code == 400
    assert "Pick a language from the list." in text(response)
    assert fetch(app, Owner, logged_in_owner.id).language == "uk"


@pytest.mark.parametrize(
    "sample",
    [
        "<b>bold</b> and <i>it</i>",
        '<a href="https://t.me/gold">pay</a>',
        "<b><i>nested</i></b>",
        "<tg-spoiler>secret</tg-spoiler>",
        "&lt;3 &amp; &quot;quoted&quot;",
        "<pre>x</pre><code>y</code>",
        "<blockquote>q</blockquote>",
        "<b>unclosed",
        "<b><i>crossed</b></i>",
        "1 < 2",
        "a & b",
        "<br>",
        "<p>paragraph</p>",
        "</b>",
    ],
)
def test_what_the_owners_text_check_accepts_the_telegram_emulator_parses(sample):
    """The check is never looser than Telegram: whatever it lets through, the emulator (itself
    never looser than Telegram) parses in HTML mode."""
    from webapp.telegram_emulator.formatting import render

    try:
        telegram_html.check(sample)
    except telegram_html.HtmlProblem:
        return
    render(sample, "HTML")


def test_odd_requests_get_a_page_not_an_error(app, client, project_id):
    assert client.get(f"/projects/{project_id}/texts?lang=zz").status_code == 200
    response = client.post(f"/projects/{project_id}/texts/preview?lang=zz", headers=HTMX)
    assert response.status_code == 200
    assert client.post(f"/projects/{project_id}/languages").status_code == 400
    assert client.post(f"/projects/{project_id}/texts").status_code == 400
    long_text = "x" * (owner_texts.MAX_TEMPLATE_LENGTH + 1)
    response = client.post(
        f"/projects/{project_id}/texts", data={"lang": "en", **_texts(welcome=long_text)}
    )
    assert response.status_code == 400
    assert "At most 1000 characters." in text(response)
    assert count(app, ProjectText) == 0
