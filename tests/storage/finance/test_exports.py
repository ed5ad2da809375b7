"""Finance exports as specifications: claimed rows, byte-identical re-exports, disjoint claims."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from sqlalchemy import func, select

from storage.db.database import Database
from storage.finance.exports import (
    PAYOUTS,
    PAYROLL,
    ExportBatch,
    ExportRefused,
    claim_payouts,
    claim_payroll,
    decimal_text,
    find_export,
    write_export,
)
from storage.finance.models import Export
from storage.lending.credit import grant_credit, withdraw
from storage.lending.lenders import SlackIdentity, ensure_lender
from storage.lending.models import Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from tests.factories import make_project

APRIL, MAY = datetime(2024, 4, 10), datetime(2024, 5, 2)
HEADER = "slack_user_id,workspace,display_name,amount,currency\r\n"


def lender(db: Database, user_id: str, team_id: str, name: str) -> int:
    with db.sessions() as session, session.begin():
        identity = SlackIdentity(user_id, team_id, display_name=name)
        return ensure_lender(session, identity, now=APRIL).id


def lend(db: Database, lender_id: int, project_id: int, cents: int, when: datetime) -> None:
    key = f"pledge:{lender_id}:{when.isoformat()}"
    outcome = pledge(
        db.sessions, PledgeRequest(lender_id, project_id, cents), LendingRules(), key=key, now=when
    )
    assert outcome.ok, outcome.refusal


def render(db: Database, batch: ExportBatch) -> bytes:
    out = io.StringIO(newline="")
    write_export(db.sessions, batch, out, currency="EUR")
    return out.getvalue().encode()


def test_payroll_exports_claim_disjoint_rows_and_reexport_byte_identical(db: Database) -> None:
    project = make_project(db, 100_000)
    ana = lender(db, "U0ANA", "T1", "Ana")
    zoe = lender(db, "U0ZOE", "T1", "Zoë =1+1")
    bob = lender(db, "U0BOB", "T2", '=HYPERLINK("http://evil")')
    lend(db, ana, project, 3_000, APRIL)
    lend(db, zoe, project, 2_550, datetime(2024, 4, 20))
    lend(db, ana, project, 2_000, MAY)
    assert grant_credit(db.sessions, bob, 2_000, key="welcome:bob", reason="welcome").ok
    lend(db, bob, project, 2_500, datetime(2024, 4, 30, 23, 59))  # 20.00 credit, 5.00 new money

    april = claim_payroll(db.sessions, "2024-04", now=MAY)
    assert (april.kind, april.period, april.created) == (PAYROLL, "2024-04", True)
    april_file = render(db, april)
    assert april_file.decode() == (
        HEADER
        + "U0ANA,T1,Ana,30.00,EUR\r\n"
        + "U0ZOE,T1,Zoë =1+1,25.50,EUR\r\n"
        + 'U0BOB,T2,"\'=HYPERLINK(""http://evil"")",5.00,EUR\r\n'
    )

    lend(db, zoe, project, 2_000, datetime(2024, 4, 25))  # late: April, after April's export
    again = claim_payroll(db.sessions, "2024-04", now=MAY)
    assert (again.export_id, again.created) == (april.export_id, False)
    assert render(db, again) == april_file

    may = claim_payroll(db.sessions, "2024-05", now=datetime(2024, 6, 1))
    assert render(db, may).decode() == (
        HEADER + "U0ANA,T1,Ana,20.00,EUR\r\n" + "U0ZOE,T1,Zoë =1+1,20.00,EUR\r\n"
    )
    with db.sessions() as session:
        claims = dict(
            session.execute(
                select(Pledge.payroll_export_id, func.sum(Pledge.from_payroll))
                .where(Pledge.from_payroll > 0)
                .group_by(Pledge.payroll_export_id)
            ).all()
        )
    assert claims == {april.export_id: 6_050, may.export_id: 4_000}


def test_a_month_is_exported_even_when_nobody_pledged(sqlite_db: Database) -> None:
    batch = claim_payroll(sqlite_db.sessions, "2024-03", now=MAY)
    assert render(sqlite_db, batch) == HEADER.encode()


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2024-06", "2024-06 has not begun yet"),
        ("2024-13", "is not a month"),
        ("24-05", "is not a month"),
        ("2024-05-01", "is not a month"),
        ("2024-05\n", "is not a month"),  # the same month as 2024-05 would be a second export
        ("\u0662\u0660\u0662\u0664-05", "is not a month"),  # an Arabic-Indic 2024
        ("0000-01", "there is no year 0"),
    ],
)
def test_a_future_or_malformed_month_is_refused(
    sqlite_db: Database, month: str, message: str
) -> None:
    with pytest.raises(ExportRefused, match=message):
        claim_payroll(sqlite_db.sessions, month, now=MAY)


def test_a_refused_month_leaves_no_export(db: Database) -> None:
    for month in ("2024-05\n", "0000-01"):
        with pytest.raises(ExportRefused):
            claim_payroll(db.sessions, month, now=MAY)
    assert claim_payroll(db.sessions, "2024-05", now=MAY).created
    with db.sessions() as session:
        assert session.execute(select(func.count()).select_from(Export)).scalar_one() == 1


def test_the_current_month_can_be_exported(sqlite_db: Database) -> None:
    assert claim_payroll(sqlite_db.sessions, "2024-05", now=MAY).created


def test_payout_batches_take_each_withdrawal_once(db: Database) -> None:
    ana = lender(db, "U0ANA", "T1", "Ana")
    bob = lender(db, "U0BOB", "T1", "Bob")
    for person in (ana, bob):
        assert grant_credit(db.sessions, person, 5_000, key=f"g:{person}", reason="test").ok
    assert withdraw(db.sessions, ana, 1_000, key="w1").ok
    assert withdraw(db.sessions, ana, 500, key="w2").ok
    assert withdraw(db.sessions, bob, 2_000, key="w3").ok

    first = claim_payouts(db.sessions, now=datetime(2024, 5, 1, 9))
    assert first is not None and first.created
    first_file = render(db, first)
    assert first_file.decode() == (
        HEADER + "U0ANA,T1,Ana,15.00,EUR\r\n" + "U0BOB,T1,Bob,20.00,EUR\r\n"
    )
    assert claim_payouts(db.sessions, now=datetime(2024, 5, 1, 10)) is None

    assert withdraw(db.sessions, bob, 3_000, key="w4").ok
    second = claim_payouts(db.sessions, now=datetime(2024, 5, 2, 9))
    assert second is not None and second.export_id != first.export_id
    assert render(db, second).decode() == HEADER + "U0BOB,T1,Bob,30.00,EUR\r\n"

    earlier = find_export(db.sessions, PAYOUTS, first.export_id)
    assert (earlier.period, earlier.created) == (first.period, False)
    assert render(db, earlier) == first_file


def test_an_unknown_batch_is_refused(sqlite_db: Database) -> None:
    payroll = claim_payroll(sqlite_db.sessions, "2024-04", now=MAY)
    with pytest.raises(ExportRefused, match="no payouts export"):
        find_export(sqlite_db.sessions, PAYOUTS, payroll.export_id)
    with pytest.raises(ExportRefused, match="no payouts export 999"):
        find_export(sqlite_db.sessions, PAYOUTS, 999)


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00"), (5, "0.05"), (2_550, "25.50"), (123_456_789, "1234567.89"), (-150, "-1.50")],
)
def test_amounts_are_written_from_cents_with_two_places(cents: int, text: str) -> None:
    assert decimal_text(cents) == text
