"""Someone leaves the company (issue 13), end to end through the emulator with signed
requests: Slack deactivates them and sends ``user_change``; nobody DMs them, their credit and
later repayments are paid out as theirs, their circle passes on, and they may come back."""

from __future__ import annotations

from sqlalchemy import select

from storage.circles.models import Circle
from storage.db.clock import utcnow
from storage.lending.models import Lender, PayoutReason, PayoutRequest
from storage.lending.rules import LendingRules
from storage.notifications.models import Notification, NotificationStatus
from storage.projects.models import Project
from storage.repayments.recording import RepaymentInput, record_repayment
from tests.factories import make_project
from tests.harness import Harness, text_of


def lend(harness: Harness, user_id: str, amount: int, channel: str | None = None) -> int:
    project_id = make_project(harness.db, amount=amount)
    with harness.db.sessions() as session:
        reference = session.get_one(Project, project_id).reference
    harness.command(user_id, f"pledge {reference} {amount // 100}", channel)
    harness.click(user_id, "pledge_confirm", within=harness.reply(user_id))
    return project_id


def repay(harness: Harness, project_id: int, amount: int, reference: str) -> None:
    item = RepaymentInput(project_id, amount, utcnow().date(), reference)
    assert record_repayment(harness.db.sessions, item, LendingRules()).ok


def deactivate(harness: Harness, user_id: str, *, deleted: bool = True) -> None:
    """An admin deactivates (or reactivates) the account; Slack tells the app, signed."""
    harness.slack.state.user(user_id).deleted = deleted
    assert harness.sender.directory_changed(user_id).status == 200
    harness.settle()


def lender_id(harness: Harness, user_id: str) -> int:
    with harness.db.sessions() as session:
        return session.execute(
            select(Lender.id).where(Lender.slack_user_id == user_id)
        ).scalar_one()


def leaver_payouts(harness: Harness, user_id: str) -> list[int]:
    with harness.db.sessions() as session:
        return list(
            session.execute(
                select(PayoutRequest.amount)
                .where(
                    PayoutRequest.lender_id == lender_id(harness, user_id),
                    PayoutRequest.reason == PayoutReason.LEAVER,
                )
                .order_by(PayoutRequest.id)
            ).scalars()
        )


def test_a_leaver_is_not_written_to_and_their_money_is_paid_out(harness_on_db: Harness) -> None:
    harness = harness_on_db
    ana = harness.user("ana")
    project_id = lend(harness, ana.id, 4_000)
    repay(harness, project_id, 1_000, "R-1")

    deactivate(harness, ana.id)
    assert leaver_payouts(harness, ana.id) == [1_000]
    repay(harness, project_id, 500, "R-2")
    assert leaver_payouts(harness, ana.id) == [1_000, 500]

    harness.deliver()
    assert harness.slack.dms(ana.id) == []
    assert not harness.calls("conversations.open")
    with harness.db.sessions() as session:
        settled = session.execute(
            select(Notification.status, Notification.last_error).where(
                Notification.lender_id == lender_id(harness, ana.id)
            )
        ).all()
    assert settled and {status for status, _ in settled} == {NotificationStatus.SKIPPED}
    assert {error for _, error in settled} == {
        "they left the company: their Slack account is deactivated"
    }


def test_a_circle_whose_lead_leaves_passes_to_its_longest_standing_member(
    harness_on_db: Harness,
) -> None:
    harness = harness_on_db
    lea, ana, ben = harness.user("lea"), harness.user("ana"), harness.user("ben")
    channel = harness.channel("team-andes", [lea.id, ana.id, ben.id])
    harness.command(lea.id, "circle create Team Andes", channel)
    for member in (ana, ben):
        harness.command(member.id, "circle join", channel)

    deactivate(harness, lea.id)
    with harness.db.sessions() as session:
        circle = session.execute(select(Circle)).scalar_one()
    assert circle.lead_id == lender_id(harness, ana.id)
    harness.command(ben.id, "circle", channel)
    assert "2 members" in harness.reply_text(ben.id)

    harness.deliver()
    [told] = harness.slack.dms(ana.id)
    assert "left the company, and you lead the lending circle *Team Andes*" in text_of(told)
    assert harness.slack.dms(lea.id) == []


def test_someone_reactivated_carries_on_where_they_were(harness_on_db: Harness) -> None:
    harness = harness_on_db
    lea, ana = harness.user("lea"), harness.user("ana")
    channel = harness.channel("team-andes", [lea.id, ana.id])
    harness.command(lea.id, "circle create Team Andes", channel)
    harness.command(ana.id, "circle join", channel)
    project_id = lend(harness, ana.id, 4_000, channel)

    deactivate(harness, ana.id)
    harness.command(lea.id, "circle", channel)
    assert "1 member" in harness.reply_text(lea.id)
    deactivate(harness, ana.id, deleted=False)

    harness.command(lea.id, "circle", channel)
    assert "2 members" in harness.reply_text(lea.id)
    repay(harness, project_id, 1_000, "R-1")
    assert leaver_payouts(harness, ana.id) == []
    harness.command(ana.id, "credit")
    assert "€10.00" in harness.reply_text(ana.id)
    harness.deliver()
    assert any("€10.00" in text_of(m) for m in harness.slack.dms(ana.id))


def test_a_deactivation_of_someone_who_never_lent_changes_nothing(harness: Harness) -> None:
    stranger = harness.user("stranger")
    deactivate(harness, stranger.id)
    assert harness.count(Lender) == 0
    assert harness.count(PayoutRequest) == 0
