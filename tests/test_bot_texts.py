"""What the bot says: escaped HTML, readable dates, callback data within Telegram's limits."""

from datetime import UTC, datetime

from bot import keyboards, texts
from webapp.domain.newcode_wizard import WizardPrompt


def test_names_from_owners_and_customers_are_escaped_in_html_messages():
    confirmation = texts.activated("Gold <Club>", "3 months & more", None, extended=False)
    assert "Gold &lt;Club&gt;, 3 months &amp; more" in confirmation
    assert "lifetime" in confirmation
    who = texts.person("<Ann>", None, "ann_lee", 5001)
    notice = texts.owner_notice(who, "K7QF-M2XD", "Gold Club", "3 months", 7, 10)
    assert "&lt;Ann&gt;" in notice and "<Ann>" not in notice
    assert "7 of 10 activations left" in notice


def test_dates_read_like_the_product_sketch():
    ends = datetime(2027, 2, 6, 14, 5, tzinfo=UTC)
    assert texts.when(ends) == "6 Feb 2027, 14:05 (UTC)"
    assert "extended until <b>6 Feb 2027" in texts.activated("G", "P", ends, extended=True)


def test_owner_facing_times_are_in_the_owners_time_zone_with_its_name():
    ends = datetime(2027, 2, 6, 23, 30, tzinfo=UTC)
    assert texts.when(ends, "Asia/Tokyo") == "7 Feb 2027, 08:30 (Asia/Tokyo)"
    assert texts.when(ends, "Not/AZone") == "6 Feb 2027, 23:30 (UTC)"
    single = texts.newcode_single("GoldBot", "K7QF", ends, 1, "America/New_York")
    assert "expires 6 Feb 2027, 18:30 (America/New_York)" in single


def test_the_owner_notice_names_the_customer_by_username_or_id():
    assert texts.person("Ann", "Lee", "ann", 5001) == "<b>@ann</b> (Ann Lee, id 5001)"
    assert texts.person(None, None, None, 5001) == "<b>id 5001</b>"


def test_callback_data_fits_telegrams_64_bytes():
    prompt = WizardPrompt(
        step="expiry_typed", nonce="abcdef", choices=[("9" * 18, "x" * 200)]
    )
    [[button]] = keyboards.newcode(prompt).keyboard
    assert len(button.callback_data.encode()) <= 64
    assert len(button.text) <= 60
    [[plan]] = keyboards.access_code(10**15).keyboard
    assert len(plan.callback_data.encode()) <= 64


def test_join_buttons_are_url_buttons_one_per_resource():
    markup = keyboards.join_buttons([("Channel", "https://t.me/+a"), ("Chat", "https://t.me/+b")])
    assert [row[0].url for row in markup.keyboard] == ["https://t.me/+a", "https://t.me/+b"]
    assert [row[0].text for row in markup.keyboard] == ["Join: Channel", "Join: Chat"]
    assert keyboards.join_buttons([]) is None


def test_queued_owner_notices_merge_into_as_few_messages_as_fit():
    from bot.owner_notices import MAX_MESSAGE, merge

    assert merge(["a", "b", "c"]) == ["a\n\nb\n\nc"]
    long = "x" * 3000
    merged = merge([long, long, "short"])
    assert merged == [long, long + "\n\nshort"]
    assert all(len(m) <= MAX_MESSAGE for m in merged)


def test_plan_names_that_already_say_the_project_or_period_are_not_repeated():
    from bot import texts

    assert texts.plan_label("Gold Club", "Gold Club VIP") == "Gold Club VIP"
    assert texts.plan_label("Gold Club", "3 months") == "Gold Club, 3 months"
    chosen = texts.plan_chosen("Gold Club", "Gold Club, 3 months", "3 months")
    assert chosen.startswith("<b>Gold Club, 3 months</b>.")
