"""A realistic demo programme on an empty database, for the console and for people trying microlend.

The catalogue is alive: a third of the Kiva sample is open on the first day, posted over the
past month so that deadlines fall on every day of the next one, and the rest arrives
``ARRIVALS_PER_DAY`` loans at a time (``replenish``), as partners post new loans.

It goes through the same operations as the app: the Kiva importer, welcome credit grants,
pledges (some fill a project, which funds it), one lending circle and partners' repayments.
Every step is idempotent by key, so loading the demo twice changes nothing: grants and pledges
replay their keys, the import skips projects it knows, the circle is created only if missing and
joining twice is a no-op, repayments replay their references. Nothing here depends on ``now``
except what the first run stores, so a second run on another day replays the first exactly.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.membership import circle_in_channel, create_circle, join_circle
from storage.db.unit_of_work import Outcome, transaction
from storage.lending.credit import grant_credit
from storage.lending.lenders import SlackIdentity, ensure_lender
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.importers import kiva
from storage.projects.importers.loader import ProjectFormat, import_projects
from storage.projects.models import Project
from storage.repayments.recording import RepaymentInput, record_repayment

# Kiva's amounts are in USD; the demo converts at one fixed, documented rate (EUR per USD).
USD_RATE = Decimal("0.92")
TEAM_ID = "T0DEMO"
WELCOME_CREDIT = 10_000
PILOT_COUNTRIES = ("Peru", "Senegal", "Lebanon", "Tajikistan", "Cambodia")
# The 1k Kiva sample ships inside the package so the demo works on a fresh machine.
DEMO_CSV = Path(__file__).resolve().parent / "data" / "kiva_loans_sample_1k.csv"
# Every third loan of the sample is open on the first day; the others arrive later.
OPENING_EVERY = 3
ARRIVALS_PER_DAY = 10


@dataclass(frozen=True)
class DemoLender:
    """A demo employee; the console's simulated users are these same people."""

    user_id: str
    name: str
    real_name: str
    tz: str
    # Their Slack locale (users.info with include_locale); French and English speakers.
    locale: str = "en-US"


LENDERS = (
    DemoLender("U0DEMOANA", "ana", "Ana Quispe", "America/Lima", "es-LA"),
    DemoLender("U0DEMOBILAL", "bilal", "Bilal Haddad", "Asia/Beirut", "fr-FR"),
    DemoLender("U0DEMOCHEN", "chen", "Chen Wei", "Asia/Phnom_Penh"),
    DemoLender("U0DEMODANA", "dana", "Dana Sow", "Africa/Dakar", "fr-FR"),
    DemoLender("U0DEMOEMIL", "emil", "Emil Rahimov", "Asia/Dushanbe"),
)


@dataclass(frozen=True)
class DemoCircle:
    channel_id: str
    channel_name: str
    name: str
    lead: str
    members: tuple[str, ...]
    goal: int


CIRCLE = DemoCircle(
    channel_id="C0DEMOLIMA",
    channel_name="team-lima",
    name="Team Lima",
    lead="U0DEMOANA",
    members=("U0DEMOBILAL", "U0DEMOCHEN"),
    goal=100_000,
)


@dataclass(frozen=True)
class DemoPledge:
    """``amount`` in cents; None means an equal part of the whole project (the last takes the
    rounding), so the lenders marked None fill it and it funds."""

    user_id: str
    reference: str
    amount: int | None = None
    in_circle: bool = False


PLEDGES = (
    # Filled, so funded: small loans in Peru, Tajikistan and Cambodia.
    DemoPledge("U0DEMOANA", "K708986", in_circle=True),
    DemoPledge("U0DEMODANA", "K708986"),
    DemoPledge("U0DEMOEMIL", "K1027178"),
    DemoPledge("U0DEMOBILAL", "K1027178"),
    DemoPledge("U0DEMOCHEN", "K841167"),
    DemoPledge("U0DEMOANA", "K841167"),
    DemoPledge("U0DEMOCHEN", "K1223722", in_circle=True),
    DemoPledge("U0DEMOBILAL", "K1223722"),
    DemoPledge("U0DEMODANA", "K1223722"),
    # Still raising: Peru's is left almost funded (34.00 EUR to go), to finish from the console.
    DemoPledge("U0DEMOANA", "K758103", 5_000, in_circle=True),
    DemoPledge("U0DEMOBILAL", "K758103", 5_000, in_circle=True),
    DemoPledge("U0DEMOCHEN", "K758103", 5_000),
    DemoPledge("U0DEMODANA", "K1260255", 10_000),
    DemoPledge("U0DEMOANA", "K1260255", 2_500, in_circle=True),
    DemoPledge("U0DEMOCHEN", "K1260255", 2_500),
    DemoPledge("U0DEMOBILAL", "K1205765", 10_000),
    DemoPledge("U0DEMOEMIL", "K1205765", 5_000),
    DemoPledge("U0DEMOEMIL", "K1303101", 4_000),
)


@dataclass(frozen=True)
class DemoRepayment:
    reference: str
    amount: int
    # The partner's own reference for the instalment: the repayment's idempotency key.
    instalment: int


REPAYMENTS = (
    DemoRepayment("K708986", 2_300, 1),
    DemoRepayment("K1027178", 3_450, 1),
    DemoRepayment("K1027178", 3_450, 2),
    DemoRepayment("K841167", 1_725, 1),
)


@dataclass(frozen=True)
class DemoReport:
    """What this run added; a second run reports zeros and the same circle."""

    projects_loaded: int
    grants: int
    pledges: int
    repayments: int
    circle_channel_id: str

    @property
    def changed(self) -> bool:
        return any((self.projects_loaded, self.grants, self.pledges, self.repayments))


class DemoError(RuntimeError):
    """A demo step was refused: the database holds something the demo did not expect."""


@dataclass(frozen=True)
class Sample:
    """The Kiva sample as rows of text: its header, the loans open on the first day, the rest."""

    header: tuple[str, ...]
    opening: tuple[tuple[str, ...], ...]
    later: tuple[tuple[str, ...], ...]


@cache
def sample(csv_path: Path) -> Sample:
    with csv_path.open(encoding="utf-8", newline="") as stream:
        header, *rows = [tuple(row) for row in csv.reader(stream)]
    pledged = {p.reference.removeprefix("K") for p in PLEDGES}
    position = header.index("id")

    def opening(index: int, row: tuple[str, ...]) -> bool:
        return index % OPENING_EVERY == 0 or row[position] in pledged

    return Sample(
        header,
        tuple(row for index, row in enumerate(rows) if opening(index, row)),
        tuple(row for index, row in enumerate(rows) if not opening(index, row)),
    )


def _import(
    factory: sessionmaker[Session],
    rules: LendingRules,
    header: tuple[str, ...],
    rows: list[tuple[str, ...]],
    posted: datetime,
) -> int:
    """Import rows of the sample as posted at ``posted`` (their deadline counts from then)."""
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    stream = io.BytesIO(text.getvalue().encode("utf-8"))
    report = import_projects(
        factory, stream, rules, fmt=ProjectFormat.KIVA, usd_rate=USD_RATE, now=posted
    )
    return report.loaded


def _open_catalogue(
    factory: sessionmaker[Session], rules: LendingRules, csv_path: Path, now: datetime
) -> int:
    """The first day's catalogue: loan i was posted i % fundraising_days days ago."""
    loans = sample(csv_path)
    days = rules.fundraising_days
    cohorts = [list(loans.opening[age::days]) for age in range(days)]
    return sum(
        _import(factory, rules, loans.header, rows, now - timedelta(days=age))
        for age, rows in enumerate(cohorts)
        if rows
    )


def replenish(
    factory: sessionmaker[Session], rules: LendingRules, csv_path: Path, *, now: datetime
) -> int:
    """The next ``ARRIVALS_PER_DAY`` loans of the sample not yet in the catalogue, posted now;
    how many arrived (none once the sample is used up)."""
    loans = sample(csv_path)
    position = loans.header.index("id")
    ids = [row[position] for row in loans.later]
    with factory() as session:
        present = set(
            session.execute(
                select(Project.external_id).where(
                    Project.source == kiva.SOURCE, Project.external_id.in_(ids)
                )
            ).scalars()
        )
    arriving = [row for row in loans.later if row[position] not in present][:ARRIVALS_PER_DAY]
    return _import(factory, rules, loans.header, arriving, now) if arriving else 0


def load_demo(
    factory: sessionmaker[Session], rules: LendingRules, csv_path: Path | str, *, now: datetime
) -> DemoReport:
    """Load the demo programme (meant for an empty database); idempotent, so safe to repeat."""
    loaded = _open_catalogue(factory, rules, Path(csv_path).resolve(), now)
    lenders = _lenders(factory, now)
    grants = sum(_grant(factory, lenders[lender.user_id], now) for lender in LENDERS)
    _circle(factory, now)
    projects = _projects(factory, {p.reference for p in PLEDGES})
    circle_id = _circle_id(factory)
    pledges = sum(
        _pledge(factory, rules, item, lenders, projects, circle_id, now) for item in PLEDGES
    )
    repayments = sum(_repay(factory, rules, item, projects, now) for item in REPAYMENTS)
    return DemoReport(loaded, grants, pledges, repayments, CIRCLE.channel_id)


def identity(lender: DemoLender) -> SlackIdentity:
    return SlackIdentity(lender.user_id, TEAM_ID, display_name=lender.name, tz=lender.tz)


def _lenders(factory: sessionmaker[Session], now: datetime) -> dict[str, int]:
    with transaction(factory) as session:
        return {
            lender.user_id: ensure_lender(session, identity(lender), now=now).id
            for lender in LENDERS
        }


def _counted(outcome: Outcome[object], step: str) -> int:
    """1 for a step done now, 0 for one replayed from an earlier run; a refusal stops the demo."""
    if outcome.refusal is not None:
        raise DemoError(f"{step}: {outcome.refusal.message}")
    return 0 if outcome.replayed else 1


def _grant(factory: sessionmaker[Session], lender_id: int, now: datetime) -> int:
    outcome = grant_credit(
        factory,
        lender_id,
        WELCOME_CREDIT,
        key=f"demo:welcome:{lender_id}",
        reason="welcome credit",
        now=now,
    )
    return _counted(outcome, "welcome credit")


def _circle(factory: sessionmaker[Session], now: datetime) -> None:
    by_id = {lender.user_id: lender for lender in LENDERS}
    if circle_in_channel(factory, TEAM_ID, CIRCLE.channel_id) is None:
        lead = identity(by_id[CIRCLE.lead])
        created = create_circle(factory, lead, CIRCLE.channel_id, CIRCLE.name, CIRCLE.goal, now=now)
        _counted(created, "the circle")
    for member in CIRCLE.members:
        joined = join_circle(
            factory, identity(by_id[member]), channel_id=CIRCLE.channel_id, now=now
        )
        _counted(joined, f"{member} joining the circle")


def _circle_id(factory: sessionmaker[Session]) -> int:
    info = circle_in_channel(factory, TEAM_ID, CIRCLE.channel_id)
    if info is None:
        raise DemoError("the demo circle is missing")
    return info.circle_id


def _projects(factory: sessionmaker[Session], references: set[str]) -> dict[str, Project]:
    with factory() as session:
        found = session.execute(select(Project).where(Project.reference.in_(references)))
        projects = {project.reference: project for project in found.scalars()}
    missing = references - set(projects)
    if missing:
        raise DemoError(f"the Kiva sample lacks {', '.join(sorted(missing))}")
    return projects


def _share(item: DemoPledge, project: Project) -> int:
    """A filler's equal part of the project, computed from its amount alone (stable on replay)."""
    fillers = [p.user_id for p in PLEDGES if p.reference == item.reference and p.amount is None]
    part = project.amount // len(fillers)
    is_last = fillers[-1] == item.user_id
    return project.amount - part * (len(fillers) - 1) if is_last else part


def _pledge(
    factory: sessionmaker[Session],
    rules: LendingRules,
    item: DemoPledge,
    lenders: dict[str, int],
    projects: dict[str, Project],
    circle_id: int,
    now: datetime,
) -> int:
    project = projects[item.reference]
    amount = item.amount if item.amount is not None else _share(item, project)
    request = PledgeRequest(
        lender=lenders[item.user_id],
        project_id=project.id,
        amount=amount,
        circle_id=circle_id if item.in_circle else None,
    )
    key = f"demo:pledge:{item.user_id}:{item.reference}"
    return _counted(pledge(factory, request, rules, key=key, now=now), key)


def _repay(
    factory: sessionmaker[Session],
    rules: LendingRules,
    item: DemoRepayment,
    projects: dict[str, Project],
    now: datetime,
) -> int:
    project_id = projects[item.reference].id
    with factory() as session:
        funded_at = session.get_one(Project, project_id).funded_at
    # Paid on the day the loan funded: stored by the first run, so a replay matches it.
    paid_on = (funded_at or now).date()
    reference = f"demo:{item.reference}:{item.instalment}"
    repayment = RepaymentInput(project_id, item.amount, paid_on, reference)
    return _counted(record_repayment(factory, repayment, rules, now=now), reference)


def is_demo(factory: sessionmaker[Session]) -> bool:
    """Whether this database holds the demo (its circle), so the sample may keep arriving."""
    return circle_in_channel(factory, TEAM_ID, CIRCLE.channel_id) is not None
