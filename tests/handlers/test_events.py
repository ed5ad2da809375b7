"""Events end to end: the Home tab, retries, and the app leaving a workspace."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from bot.devtools.emulator import Tamper
from storage.db.clock import utcnow
from storage.db.models import ProcessedEvent
from storage.installations.models import Workspace
from storage.lending.models import Pledge
from tests.factories import make_lender, make_project
from tests.harness import Harness, button_values, text_of


def test_home_opened_publishes_the_home_tab(harness: Harness) -> None:
    make_project(harness.db, amount=10_000)
    alice = harness.user("alice")
    harness.open_home(alice.id)
    home = harness.home(alice.id)
    text = text_of(home)
    assert "Available credit" in text and "No loans yet" in text
    assert "not in a lending circle" in text
    # Nobody has lent to the one project yet: it is raising money, not close to its goal.
    assert "Projects raising money" in text and "close to their goal" not in text
    assert len(button_values(home, "lend")) == 1
    assert button_values(home, "open_settings")
    harness.click(alice.id, "lend", within=home)
    assert harness.modal(alice.id).callback_id == "pledge_modal"


def test_a_retried_event_is_handled_once(harness: Harness) -> None:
    alice = harness.user("alice")
    first = harness.open_home(alice.id)
    retry = harness.resend(first, retry_num=1)
    assert (first.status, retry.status) == (200, 200)
    assert len(harness.calls("views.publish")) == 1
    assert harness.count(ProcessedEvent) == 1


def test_a_replay_carrying_bolts_internal_headers_is_still_handled_once(harness: Harness) -> None:
    alice = harness.user("alice")
    first = harness.open_home(alice.id)
    # The headers a worker process adds to dispatch an answer again; Slack never sends them.
    lazy_only = Tamper(
        headers=(
            ("X-Slack-Bolt-Lazy-Only", "1"),
            ("X-Slack-Bolt-Lazy-Function-Name", "on_home_opened"),
        )
    )

    replay = harness.resend(first, tamper=lazy_only)

    assert replay.status == 200
    assert len(harness.calls("views.publish")) == 1


@pytest.mark.unreconciled  # 500 pledges inserted directly, without their postings
def test_home_of_a_lender_with_500_loans_stays_within_limits(harness: Harness) -> None:
    alice = harness.user("alice")
    lender_id = make_lender(harness.db, alice.id, team_id="T0EMULATOR")
    project_ids = [make_project(harness.db, amount=10_000) for _ in range(500)]
    now = utcnow()
    with harness.db.sessions() as session, session.begin():
        session.execute(
            insert(Pledge),
            [
                {
                    "lender_id": lender_id,
                    "project_id": pid,
                    "amount": 2_000,
                    "from_credit": 0,
                    "from_payroll": 2_000,
                    "repaid": 0,
                    "is_relend": False,
                    "refunded": False,
                    "created_at": now,
                }
                for pid in project_ids
            ],
        )
    harness.open_home(alice.id)
    home = harness.home(alice.id)
    assert len(home.blocks) <= 100
    assert "Your 20 newest loans of 500" in text_of(home)
    assert "€10,000.00 in 500 loans" in text_of(home)


def test_uninstall_and_revoked_tokens_stop_sending_and_keep_money(harness: Harness) -> None:
    alice = harness.user("alice")
    harness.command(alice.id, "credit")
    harness.event({"type": "tokens_revoked", "tokens": {"oauth": [alice.id], "bot": []}})
    assert _active(harness) is True  # a user's token alone changes nothing
    harness.event({"type": "app_uninstalled"})
    assert _active(harness) is False
    again = harness.event({"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]}})
    assert again.status == 200 and _active(harness) is False


def _active(harness: Harness) -> bool:
    with harness.db.sessions() as session:
        return session.execute(select(Workspace.active)).scalar_one()
