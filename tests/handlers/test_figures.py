"""Every figure a person sees is the ledger's own, for random programmes.

A seeded programme of grants, pledges (some for a circle), expiries, repayments, a default and
withdrawals is built through the operations that move money. Then every screen a lender sees is
read back through the real app (portfolio, Home, credit, each project page, the circle's stats,
the leaderboard and the DMs they were sent) and each figure on it is compared with the value
worked out here from the postings alone: what went into and out of each account, by transaction
kind and pledge. The stored totals (balances, pledges' and projects' repaid) are not read.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.circles.models import Circle
from storage.db.clock import utcnow
from storage.ledger.models import Account, AccountKind, LedgerTransaction, Posting
from storage.lending.credit import grant_credit, withdraw
from storage.lending.lenders import choose_preferences
from storage.lending.models import Lender, NotifyMode, Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.lifecycle import default_project, expire_due_projects
from storage.projects.models import Project, ProjectStatus, RepaymentInterval
from storage.projects.schedule import next_expected
from storage.repayments.recording import RepaymentInput, record_repayments
from storage.repayments.sharing import PledgeState, apportion
from tests.factories import make_project
from tests.harness import Harness, text_of

NAMES = ("ana", "bilal", "chen", "dana", "emil")
RULES = LendingRules(monthly_cap=10**9)


def money(cents: int) -> str:
    return f"€{cents // 100:,}.{cents % 100:02d}"


@dataclass
class PledgeBook:
    """One pledge as the postings tell it: for the sharing rule and the circle's totals."""

    project: int
    lender: int
    circle: int | None
    lent: int = 0
    repaid: int = 0


@dataclass
class Books:
    """What the postings say, per lender and project: the figures every screen must show."""

    available: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    pledged: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    refunded: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    repaid: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    pledges: dict[int, PledgeBook] = field(default_factory=dict)

    def lent(self, lender: int, project: int) -> int:
        return self.pledged[(lender, project)] - self.refunded[(lender, project)]

    def projects_of(self, lender: int) -> set[int]:
        return {project for (who, project) in self.pledged if who == lender}


def read_books(harness: Harness) -> Books:
    books = Books()
    with harness.db.sessions() as session:
        rows = session.execute(
            select(
                Account.lender_id,
                Account.kind,
                LedgerTransaction.kind,
                Posting.amount,
                Posting.pledge_id,
                Pledge.project_id,
                Pledge.circle_id,
            )
            .join(Posting, Posting.account_id == Account.id)
            .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
            .outerjoin(Pledge, Pledge.id == Posting.pledge_id)
            .where(Account.lender_id.is_not(None))
        ).all()
    for lender, account, kind, amount, pledge_id, project, circle in rows:
        assert lender is not None  # lenders' accounts only
        if account == AccountKind.AVAILABLE:
            books.available[lender] += amount
        if pledge_id is None:
            continue
        entry = books.pledges.setdefault(pledge_id, PledgeBook(project, lender, circle))
        if account == AccountKind.COMMITTED and kind == "pledge":
            books.pledged[(lender, project)] += amount
            entry.lent += amount
        elif account == AccountKind.AVAILABLE and kind == "expire":
            books.refunded[(lender, project)] += amount
            entry.lent -= amount
        elif account == AccountKind.AVAILABLE and kind == "repayment":
            books.repaid[(lender, project)] += amount
            entry.repaid += amount
    return books


@dataclass(frozen=True)
class Programme:
    users: dict[int, str]  # lender id -> Slack user id
    projects: list[int]
    channel: str


def build(harness: Harness, seed: int) -> Programme:
    rng = random.Random(seed)
    people = [harness.user(name) for name in NAMES]
    channel = harness.channel("team-figures", [p.id for p in people[:3]])
    harness.command(people[0].id, "circle create Figures", channel)
    for person in people[1:3]:
        harness.command(person.id, "circle join", channel)
    users = {}
    for person in people:
        harness.command(person.id, "credit")  # the lender exists once they have spoken
        with harness.db.sessions() as session:
            lender = session.execute(
                select(Lender.id).where(Lender.slack_user_id == person.id)
            ).scalar_one()
        users[lender] = person.id
        # Told of everything at once, at any hour: every DM is delivered below.
        assert choose_preferences(
            harness.db.sessions,
            lender,
            notify_mode=NotifyMode.AS_IT_HAPPENS,
            work_start_minute=0,
            work_end_minute=24 * 60,
            work_days=0b1111111,
        ).ok
        cents = rng.randrange(0, 15_000)
        if cents:
            assert grant_credit(harness.db.sessions, lender, cents, key=f"g{lender}", reason="t").ok
    soon = utcnow() + timedelta(hours=1)
    projects = [
        make_project(
            harness.db,
            amount=rng.randrange(40, 160) * 100 + rng.randrange(100),
            interval=rng.choice(list(RepaymentInterval)),
            term_months=rng.randrange(2, 14),
            deadline=soon if number % 4 == 3 else None,
        )
        for number in range(8)
    ]
    circle = _circle_id(harness, channel)
    members = set(list(users)[:3])
    for number, project_id in enumerate(projects):
        # Most projects fill up (and are repaid later); those closing soon stay short and expire.
        fill = number % 4 != 3 and rng.random() < 0.8
        _lend_to(harness, rng, project_id, fill, users, members, circle)
    expire_due_projects(harness.db.sessions, now=soon + timedelta(hours=1))
    _repay(harness, rng, projects)
    _withdraw(harness, rng, users)
    return Programme(users, projects, channel)


def _lend_to(
    harness: Harness,
    rng: random.Random,
    project_id: int,
    fill: bool,
    users: dict[int, str],
    members: set[int],
    circle: int,
) -> None:
    with harness.db.sessions() as session:
        needed = session.get_one(Project, project_id).amount
    for step in range(rng.randrange(1, 5) if not fill else 50):
        if needed <= 0:
            return
        lender = rng.choice(list(users))
        amount = min(rng.randrange(2_000, 6_000) + rng.randrange(100), needed)
        if fill and needed - amount < 2_000:
            amount = needed  # the last pledge may be smaller than the minimum: exactly what is left
        elif not fill and amount == needed:
            return
        counted = circle if lender in members and rng.random() < 0.5 else None
        request = PledgeRequest(lender, project_id, amount, circle_id=counted)
        assert pledge(harness.db.sessions, request, RULES, key=f"p{project_id}-{step}").ok
        needed -= amount


def _circle_id(harness: Harness, channel: str) -> int:
    with harness.db.sessions() as session:
        return session.execute(select(Circle.id).where(Circle.channel_id == channel)).scalar_one()


def _repay(harness: Harness, rng: random.Random, projects: list[int]) -> None:
    today = utcnow().date()
    for round_number in range(3):
        items = []
        with harness.db.sessions() as session:
            for project in session.scalars(select(Project).where(Project.id.in_(projects))):
                owed = project.funded - project.repaid - project.lost
                lent = project.status in (ProjectStatus.FUNDED, ProjectStatus.REPAYING)
                if lent and owed > 0 and rng.random() < 0.7:
                    amount = owed if rng.random() < 0.2 else rng.randrange(1, owed + 1)
                    items.append(
                        RepaymentInput(project.id, amount, today, f"r{round_number}-{project.id}")
                    )
        record_repayments(harness.db.sessions, items, RULES)
    with harness.db.sessions() as session:
        repaying = (
            session.execute(
                select(Project.id).where(
                    Project.id.in_(projects), Project.status == ProjectStatus.REPAYING
                )
            )
            .scalars()
            .first()
        )
    if repaying is not None:
        assert default_project(harness.db.sessions, repaying, reason="flood", key="d").ok


def _withdraw(harness: Harness, rng: random.Random, users: dict[int, str]) -> None:
    for lender in users:
        if rng.random() < 0.4:
            withdraw(harness.db.sessions, lender, None, key=f"w{lender}")


@pytest.mark.parametrize("seed", [3, 17, 2024])
def test_every_figure_on_screen_is_the_ledgers(harness: Harness, seed: int) -> None:
    programme = build(harness, seed)
    books = read_books(harness)
    # The programme has every kind of figure to get wrong: refunds, repayments, circle pledges.
    assert any(books.refunded.values()) and any(books.repaid.values())
    assert _circle_totals(books)[0] > 0
    harness.deliver(at=utcnow() + timedelta(minutes=5))
    for lender, user in programme.users.items():
        _check_portfolio(harness, books, lender, user)
        _check_credit(harness, books, lender, user)
        _check_home(harness, books, lender, user, programme.channel)
        _check_news(harness, books, lender, user)
    for project in programme.projects:
        _check_project_page(harness, books, project, next(iter(programme.users.values())))
    _check_circle(harness, books, programme)


def _lent_field(books: Books, lender: int) -> str:
    projects = books.projects_of(lender)
    loans = sum(1 for p in projects if books.lent(lender, p) > 0)
    lent = sum(books.lent(lender, p) for p in projects)
    word = "loan" if loans == 1 else "loans"
    return f"*Lent*\n{money(lent)} in {loans} {word}"


def _check_portfolio(harness: Harness, books: Books, lender: int, user: str) -> None:
    harness.command(user, "portfolio")
    text = harness.reply_text(user)
    repaid = sum(books.repaid[(lender, p)] for p in books.projects_of(lender))
    assert f"*Available credit*\n{money(books.available[lender])}" in text
    assert _lent_field(books, lender) in text
    assert f"*Repaid to you*\n{money(repaid)}" in text
    for project in books.projects_of(lender):
        _check_loan_line(harness, books, lender, project, text)


def _check_loan_line(
    harness: Harness, books: Books, lender: int, project_id: int, text: str
) -> None:
    with harness.db.sessions() as session:
        project = session.get_one(Project, project_id)
        reference, due, raising = (
            project.reference,
            next_expected(project),
            project.status == ProjectStatus.FUNDRAISING,
        )
    (line,) = [line for line in text.split("\n") if f"`{reference}`" in line]
    following = text.split(line, 1)[1].split("\n")[1]
    lent, back = books.lent(lender, project_id), books.repaid[(lender, project_id)]
    if lent == 0:
        assert f"you pledged {money(books.pledged[(lender, project_id)])}:" in following
        return
    assert f"you lent {money(lent)}, {money(back)} back" in following
    # One rounding rule, down, as the repayment DMs say it: of what this lender lent.
    assert raising or f" {back * 100 // lent}% of yours repaid" in following
    share = _next_share(books, lender, project_id, due.owed if due else 0)
    if share:
        assert f"next {money(share)} expected by" in following
    else:
        assert "next €" not in following


def _next_share(books: Books, lender: int, project_id: int, owed: int) -> int:
    """The lender's part of ``owed`` by the sharing rule, on pledges read from the postings."""
    if owed == 0:
        return 0
    live = sorted(
        (pledge_id, entry)
        for pledge_id, entry in books.pledges.items()
        if entry.project == project_id and entry.lent > 0
    )
    states = [PledgeState(pledge_id, entry.lent, entry.repaid) for pledge_id, entry in live]
    shares = apportion(
        owed,
        states,
        loan_total=sum(s.amount for s in states),
        repaid_before=sum(s.repaid for s in states),
    )
    mine = [entry.lender == lender for _pledge_id, entry in live]
    return sum(share for share, own in zip(shares, mine, strict=True) if own)


def _check_credit(harness: Harness, books: Books, lender: int, user: str) -> None:
    harness.command(user, "credit")
    assert f"*Available credit: {money(books.available[lender])}*" in harness.reply_text(user)


def _check_home(harness: Harness, books: Books, lender: int, user: str, channel: str) -> None:
    harness.open_home(user)
    home = text_of(harness.home(user))
    assert f"*Available credit*\n{money(books.available[lender])}" in home
    assert _lent_field(books, lender) in home
    if f"<#{channel}>" in home:
        lent, projects = _circle_totals(books)
        word = "project" if projects == 1 else "projects"
        assert f"<#{channel}> · {money(lent)} lent together to {projects} {word}" in home


def _circle_totals(books: Books) -> tuple[int, int]:
    counted = [e for e in books.pledges.values() if e.circle is not None and e.lent > 0]
    return sum(e.lent for e in counted), len({e.project for e in counted})


def _check_news(harness: Harness, books: Books, lender: int, user: str) -> None:
    told = 0
    for message in harness.slack.dms(user):
        found = re.search(r"\*(€[\d,]+\.\d\d)\* came back to you", text_of(message))
        if found:
            told += int(found.group(1)[1:].replace(",", "").replace(".", ""))
    assert told == sum(books.repaid[(lender, p)] for p in books.projects_of(lender))


def _check_project_page(harness: Harness, books: Books, project_id: int, user: str) -> None:
    with harness.db.sessions() as session:
        project = session.get_one(Project, project_id)
        reference, amount = project.reference, project.amount
    funded = sum(books.lent(lender, p) for (lender, p) in books.pledged if p == project_id)
    repaid = sum(back for (_lender, p), back in books.repaid.items() if p == project_id)
    harness.command(user, f"project {reference}")
    text = harness.reply_text(user)
    if project.status == ProjectStatus.FUNDRAISING:
        assert f"of {money(amount)}" in text and f"{funded * 100 // amount}%" in text
    elif funded:
        assert f"*Repaid*\n{money(repaid)} of {money(amount)}" in text


def _check_circle(harness: Harness, books: Books, programme: Programme) -> None:
    lead = next(iter(programme.users.values()))
    lent, _projects = _circle_totals(books)
    harness.command(lead, "circle", programme.channel)
    assert f"*Lent together*\n{money(lent)}" in harness.reply_text(lead)
    harness.command(lead, "circles")
    if lent:
        assert f"*Figures*: {money(lent)} from" in harness.reply_text(lead)
