"""The console: recorded sessions (scripted input, checked output) and its renderer on hostile text.

Sessions run on a copy of one database with the demo loaded, from Wednesday 7 January 2026,
10:00 UTC: 05:00 in Lima, where Ana (the first simulated user) lives, so her DMs wait for
her working hours.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.devtools.console import run_console
from bot.devtools.console_screen import Style, message_screen, mrkdwn_to_text, view_screen
from bot.devtools.console_slack import ConsoleClock, due_jobs
from bot.devtools.demo import DEMO_CSV, load_demo
from bot.devtools.emulator import Message, View
from bot.runtime.settings import Settings
from storage.db.database import open_database
from storage.lending.rules import LendingRules
from storage.projects.models import Project, ProjectStatus
from tests.reconciled import assert_session_reconciled

WEDNESDAY_10AM = datetime(2026, 1, 7, 10, 0)
# The demo leaves this Peruvian project 34.00 EUR short of its 184.00 EUR.
ALMOST_FUNDED = "K758103"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database with the demo loaded, copied for each session."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    db = open_database(f"sqlite:///{path}")
    load_demo(db.sessions, LendingRules(), DEMO_CSV, now=WEDNESDAY_10AM)
    db.dispose()
    return path


@pytest.fixture
def database_url(demo_template: Path, tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "microlend.db"
    shutil.copy(demo_template, path)
    yield f"sqlite:///{path}"


def session(database_url: str, *lines: str, admins: frozenset[str] = frozenset()) -> str:
    """Run the console on these input lines; the transcript it printed."""
    out = io.StringIO()
    settings = Settings(database_url=database_url, admins=admins)
    status = run_console(
        settings,
        stdin=io.StringIO("".join(line + "\n" for line in lines)),
        stdout=out,
        clock=ConsoleClock(WEDNESDAY_10AM),
    )
    assert status == 0
    return out.getvalue()


def test_lend_then_see_the_repayment_dm_in_working_hours_and_the_home_tab(
    database_url: str,
) -> None:
    transcript = session(
        database_url,
        "/lend browse almost-funded",
        "click 1",  # Lend, on the first card: the project closest to its goal
        "fill",
        "34",  # Amount: exactly what it still needs
        "1",  # Count it for a circle: Team Lima
        "fill",  # Confirm
        f"/lend admin repay {ALMOST_FUNDED} 184",
        "wait 5h",
        "home",
        "quit",
        admins=frozenset({"U0DEMOANA"}),
    )
    before_wait, after_wait = transcript.split("> wait 5h\n")
    browse, lend = before_wait.split("> click 1\n")
    assert f"`{ALMOST_FUNDED}`" in browse and "[1] Lend" in browse
    assert "== Lend (modal)" in lend and "the project still needs €34.00" in lend
    assert "Amount [€20.00]: 34\n" in lend and "1) Team Lima" in lend
    assert "== Confirm your loan (modal)" in lend and "This completes K758103" in lend
    assert "Your pledge completed it: the project is fully funded!" in lend
    assert "loan is now repaid" in lend
    # 05:00 in Lima: the DM waits for Ana's working hours.
    assert "DM from microlend" not in before_wait
    dm, home = after_wait.split("> home\n")
    assert "Wed 10:00 for ana" in dm and "-- DM from microlend" in dm
    assert f"K{ALMOST_FUNDED[1:]}" in dm and "€84.00 of the €84.00 you lent repaid (100%)" in dm
    assert "== Home tab" in home and f"`{ALMOST_FUNDED}` · repaid" in home
    assert "\x1b" not in transcript  # not a terminal: no colour
    db = open_database(database_url)
    with db.sessions() as checking:
        project = checking.execute(
            select(Project).where(Project.reference == ALMOST_FUNDED)
        ).scalar_one()
        assert_session_reconciled(checking)
    db.dispose()
    assert project.status == ProjectStatus.REPAID


def test_switching_people_and_channels_and_saying_what_went_wrong(database_url: str) -> None:
    transcript = session(
        database_url,
        "click 3",
        "fill",
        "as zed",
        "frobnicate",
        "as chen",
        "in #team-lima",
        "/lend circle",
        "channel",
        "tomorrow",
        "dms",
        "in dm",
        "wait soon",
    )
    assert "There is no button [3] on screen." in transcript
    assert "No modal is open." in transcript
    assert "Who? The people here are ana, bilal, chen, dana, emil." in transcript
    assert "I don't know `frobnicate`." in transcript
    assert "You are Chen Wei (Asia/Phnom_Penh)" in transcript
    assert "chen@#team-lima> /lend circle" in transcript
    assert "Nothing has been posted in #team-lima yet." in transcript
    # Tomorrow 9:00 in Phnom Penh (UTC+7) is Thursday 02:00 UTC: the circle's news is posted.
    assert "It is Thu 08 Jan 2026 02:00 UTC, Thu 09:00 for chen." in transcript
    assert "-- #team-lima, from microlend" in transcript
    assert "chen@dm> wait soon" in transcript and "Say how long" in transcript


def test_due_jobs_are_those_scheduled_inside_the_wait() -> None:
    assert due_jobs(WEDNESDAY_10AM, WEDNESDAY_10AM + timedelta(minutes=10)) == []
    assert due_jobs(WEDNESDAY_10AM, WEDNESDAY_10AM + timedelta(hours=1)) == ["expire", "autolend"]
    week = due_jobs(WEDNESDAY_10AM, WEDNESDAY_10AM + timedelta(days=7))
    assert week == ["expire", "autolend", "delinquency", "circle-summaries", "reconcile"]
    # The idle-credit reminder runs on the 1st of the month.
    assert "idle-credit" in due_jobs(WEDNESDAY_10AM, datetime(2026, 2, 1, 7, 0))


# -- the renderer ------------------------------------------------------------------------------

HOSTILE = (
    "&lt;!channel&gt; &amp;lt;b&amp;gt; \x1b[2J\x1b]0;owned\x07 \u202eevil\u202c "
    "<!here> <@U0DEMOANA> <#C1|team-lima> <https://example.org/x|a link>"
)
NAMES = {"U0DEMOANA": "ana"}


def names(slack_id: str) -> str:
    return NAMES.get(slack_id, slack_id)


def test_mrkdwn_shows_escaped_text_literally_and_slack_tokens_as_words() -> None:
    shown = mrkdwn_to_text(HOSTILE, names)
    assert shown == (
        "<!channel> &lt;b&gt; [2J]0;owned evil @here @ana #team-lima a link (https://example.org/x)"
    )


def test_hostile_blocks_cannot_reach_the_terminal() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "\x1b[31mred\x9b header"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": HOSTILE},
            "fields": [{"type": "mrkdwn", "text": "*Lent*\n€5.00"}],
            "accessory": {
                "type": "button",
                "action_id": "lend",
                "text": {"type": "plain_text", "text": "Lend\x1b[8m"},
            },
        },
        {"type": "context", "elements": [{"type": "plain_text", "text": "\u2066context\u2069"}]},
        {"type": "divider"},
        {"type": "mystery"},
    ]
    message = Message("C1", "1.000001", "fallback", blocks, "U0BOT", ephemeral_to="U0DEMOANA")
    screen = message_screen(message, "only you\x1b[0m", names, Style(color=False), first_number=4)
    text = screen.text()
    assert not any(ch in text for ch in "\x1b\x07\x9b\u202e\u202c\u2066\u2069")
    assert "# [31mred header" in text and "<!channel>" in text
    assert "  - *Lent* €5.00" in text and "  [4] Lend[8m" in text
    assert "[a mystery block]" in text
    assert [(b.number, b.action_id, b.container) for b in screen.buttons] == [(4, "lend", message)]


def test_a_modal_shows_its_inputs_errors_and_ways_out() -> None:
    payload = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Lend"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "amount",
                "label": {"type": "plain_text", "text": "Amount"},
                "element": {"type": "plain_text_input", "initial_value": "€20.00"},
            }
        ],
    }
    view = View("V1", "U0DEMOANA", payload, "h", "V1", errors={"amount": "Too <much>"})
    text = view_screen(view, names, Style(color=True)).text()
    assert "Amount: <plain text input = €20.00>" in text and "! Too <much>" in text
    assert "[Cancel: type `close`]" in text and "fill" not in text
    assert "\x1b[1m" in text  # a terminal gets emphasis
