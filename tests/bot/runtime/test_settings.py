"""Settings come from the environment; a bad value names the variable and what it accepts."""

from __future__ import annotations

import pytest

from bot.runtime.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings


def test_defaults_describe_the_pilot() -> None:
    settings = load_settings({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.currency == "EUR"
    assert (settings.rules.min_pledge, settings.rules.monthly_cap) == (20_00, 500_00)
    assert settings.rules.fundraising_days == 30
    assert settings.admins == frozenset()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.work_processes == 2


def test_values_are_parsed_exactly() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql+psycopg://app@db:5432/microlend",
            "MICROLEND_CURRENCY": "usd",
            "MICROLEND_MIN_PLEDGE": "25",
            "MICROLEND_MONTHLY_CAP": "1,000.50",
            "MICROLEND_FUNDRAISING_DAYS": "45",
            "MICROLEND_ADMINS": "U012ABC, W0456DEF",
            "SLACK_APP_TOKEN": "xapp-1-abc",
            "SLACK_API_URL": "http://127.0.0.1:9000/api",
            "MICROLEND_WORK_PROCESSES": "0",
        }
    )
    assert settings.currency == "USD"
    assert (settings.rules.min_pledge, settings.rules.monthly_cap) == (25_00, 1_000_50)
    assert settings.rules.fundraising_days == 45
    assert settings.admins == {"U012ABC", "W0456DEF"}
    assert settings.slack_api_url == "http://127.0.0.1:9000/api/"
    assert settings.work_processes == 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("MICROLEND_CURRENCY", "euro", "three-letter"),
        ("MICROLEND_MIN_PLEDGE", "-5", "MICROLEND_MIN_PLEDGE"),
        ("MICROLEND_MIN_PLEDGE", "abc", "MICROLEND_MIN_PLEDGE"),
        ("MICROLEND_MONTHLY_CAP", "1e9", "MICROLEND_MONTHLY_CAP"),
        ("MICROLEND_FUNDRAISING_DAYS", "0", "1 to 365"),
        ("MICROLEND_FUNDRAISING_DAYS", "thirty", "MICROLEND_FUNDRAISING_DAYS"),
        ("MICROLEND_ADMINS", "<@U123>", "not a Slack user id"),
        ("SLACK_APP_TOKEN", "xoxb-123", "xapp-"),
        ("SLACK_API_URL", "slack.com", "SLACK_API_URL"),
        ("MICROLEND_SLACK_PER_MINUTE", "fast", "MICROLEND_SLACK_PER_MINUTE"),
        ("MICROLEND_DELIVERY_ATTEMPTS", "0", "1 to 100"),
        ("MICROLEND_WORK_PROCESSES", "-1", "0 to 64"),
    ],
)
def test_a_bad_value_is_refused_with_a_message_naming_it(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError, match=expected):
        load_settings({name: value})
