"""The persistent state of microlend, as SQLAlchemy 2 typed ORM models.

Money columns are integer cents in ``BigInteger``; CHECK constraints back up every rule that a
concurrent writer could otherwise break (a project over-funded, a lender's credit below zero).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK so both databases hold the same schema.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class ProjectStatus(enum.StrEnum):
    FUNDRAISING = "fundraising"
    FUNDED = "funded"
    REPAYING = "repaying"
    REPAID = "repaid"
    EXPIRED = "expired"
    DEFAULTED = "defaulted"


class RepaymentInterval(enum.StrEnum):
    MONTHLY = "monthly"
    IRREGULAR = "irregular"
    BULLET = "bullet"


class AccountKind(enum.StrEnum):
    # A lender's own money, by where it is now.
    AVAILABLE = "available"
    COMMITTED = "committed"
    OUTSTANDING = "outstanding"
    # Sources and sinks; their balances run negative as money flows out of them.
    PAYROLL = "payroll"
    GRANTS = "grants"
    PAYOUTS = "payouts"
    LOSSES = "losses"


LENDER_ACCOUNT_KINDS = (
    AccountKind.AVAILABLE,
    AccountKind.COMMITTED,
    AccountKind.OUTSTANDING,
    AccountKind.PAYROLL,
)
SYSTEM_ACCOUNT_KINDS = (AccountKind.GRANTS, AccountKind.PAYOUTS, AccountKind.LOSSES)


class NotifyMode(enum.StrEnum):
    AS_IT_HAPPENS = "as_it_happens"
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    SKIPPED = "skipped"


class Workspace(Base):
    """A Slack workspace or Enterprise Grid organisation: the boundary of lenders and circles."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The enterprise id on Enterprise Grid, otherwise the team id.
    org_key: Mapped[str] = mapped_column(String(32), unique=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime)


class Partner(Base):
    """A microfinance institution that disburses loans and collects repayments."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(100))
    # Stars in tenths (0..50), as Kiva rates its field partners.
    risk_rating: Mapped[int | None] = mapped_column(Integer)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("funded >= 0 AND funded <= amount", name="funded_in_range"),
        CheckConstraint("repaid >= 0 AND repaid + lost <= funded", name="repaid_in_range"),
        CheckConstraint("lost >= 0", name="lost_nonnegative"),
        CheckConstraint("term_months > 0", name="term_positive"),
        Index("ix_projects_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    borrower: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    country_code: Mapped[str] = mapped_column(String(2))
    country: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(100))
    activity: Mapped[str] = mapped_column(String(100))
    borrower_genders: Mapped[str] = mapped_column(String(500), default="")
    borrower_count: Mapped[int] = mapped_column(Integer, default=1)
    women_count: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[int] = mapped_column(BigInteger)
    funded: Mapped[int] = mapped_column(BigInteger, default=0)
    repaid: Mapped[int] = mapped_column(BigInteger, default=0)
    lost: Mapped[int] = mapped_column(BigInteger, default=0)
    term_months: Mapped[int] = mapped_column(Integer)
    repayment_interval: Mapped[RepaymentInterval] = mapped_column(
        _enum(RepaymentInterval, "repayment_interval")
    )
    status: Mapped[ProjectStatus] = mapped_column(
        _enum(ProjectStatus, "project_status"), default=ProjectStatus.FUNDRAISING
    )
    posted_at: Mapped[datetime | None] = mapped_column(DateTime)
    source_funded_at: Mapped[datetime | None] = mapped_column(DateTime)
    deadline: Mapped[datetime] = mapped_column(DateTime)
    funded_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    delinquent_since: Mapped[date | None] = mapped_column(Date)
    photo_url: Mapped[str | None] = mapped_column(String(500))
    tags: Mapped[str] = mapped_column(String(500), default="")
    default_reason: Mapped[str | None] = mapped_column(Text)


class Lender(Base):
    __tablename__ = "lenders"
    __table_args__ = (
        UniqueConstraint("workspace_id", "slack_user_id", name="uq_lenders_workspace_user"),
        CheckConstraint("work_start_minute < work_end_minute", name="working_hours"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    tz: Mapped[str] = mapped_column(String(64), default="UTC")
    notify_mode: Mapped[NotifyMode] = mapped_column(
        _enum(NotifyMode, "notify_mode"), default=NotifyMode.AS_IT_HAPPENS
    )
    work_start_minute: Mapped[int] = mapped_column(Integer, default=9 * 60)
    work_end_minute: Mapped[int] = mapped_column(Integer, default=18 * 60)
    # Bit 0 is Monday; Monday to Friday by default.
    work_days: Mapped[int] = mapped_column(Integer, default=0b0011111)
    autolend: Mapped[bool] = mapped_column(Boolean, default=False)
    autolend_country: Mapped[str | None] = mapped_column(String(100))
    autolend_sector: Mapped[str | None] = mapped_column(String(100))
    relend_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Account(Base):
    """A ledger account. ``balance`` is a cache of the sum of its postings, kept in step."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("lender_id", "kind", name="uq_accounts_lender_kind"),
        CheckConstraint(
            "kind NOT IN ('available', 'committed', 'outstanding') OR balance >= 0",
            name="lender_money_nonnegative",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lender_id: Mapped[int | None] = mapped_column(ForeignKey("lenders.id"))
    kind: Mapped[AccountKind] = mapped_column(_enum(AccountKind, "account_kind"))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    operation_key: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Posting(Base):
    """One leg of a transaction; the legs of a transaction sum to zero. Never updated."""

    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_nonzero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    pledge_id: Mapped[int | None] = mapped_column(Integer)


class Operation(Base):
    """The record of an idempotent operation: its key, what it was asked, what it answered."""

    __tablename__ = "operations"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Circle(Base):
    """A lending circle: a channel whose members lend together, led by a team lead."""

    __tablename__ = "circles"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel_id", name="uq_circles_workspace_channel"),
        CheckConstraint("goal IS NULL OR goal > 0", name="goal_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    channel_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    lead_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"))
    goal: Mapped[int | None] = mapped_column(BigInteger)
    weekly_summary: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class CircleMember(Base):
    __tablename__ = "circle_members"

    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True, index=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime)


class Pledge(Base):
    __tablename__ = "pledges"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("from_credit >= 0 AND from_payroll >= 0", name="sources_nonnegative"),
        CheckConstraint("from_credit + from_payroll = amount", name="sources_sum"),
        CheckConstraint("repaid >= 0 AND repaid <= amount", name="repaid_in_range"),
        Index("ix_pledges_project_id_id", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    circle_id: Mapped[int | None] = mapped_column(ForeignKey("circles.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    from_credit: Mapped[int] = mapped_column(BigInteger)
    from_payroll: Mapped[int] = mapped_column(BigInteger)
    repaid: Mapped[int] = mapped_column(BigInteger, default=0)
    # Money that came back to the lender and was lent again counts as a re-lend.
    is_relend: Mapped[bool] = mapped_column(Boolean, default=False)
    refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    payroll_export_id: Mapped[int | None] = mapped_column(ForeignKey("exports.id"), index=True)


class LenderMonth(Base):
    """New (payroll) money a lender pledged in one calendar month, held under the monthly cap."""

    __tablename__ = "lender_months"
    __table_args__ = (CheckConstraint("new_money >= 0", name="new_money_nonnegative"),)

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    new_money: Mapped[int] = mapped_column(BigInteger, default=0)


class Repayment(Base):
    __tablename__ = "repayments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ImpactUpdate(Base):
    __tablename__ = "impact_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    photo_url: Mapped[str | None] = mapped_column(String(500))
    posted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class PayoutRequest(Base):
    __tablename__ = "payout_requests"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    export_id: Mapped[int | None] = mapped_column(ForeignKey("exports.id"), index=True)


class Export(Base):
    """A finance export; the rows it claimed belong to it alone, so re-exporting is stable."""

    __tablename__ = "exports"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_exports_kind_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Notification(Base):
    """The outbox: a message that exists exactly when the change that caused it was committed."""

    __tablename__ = "notifications"
    # Claims take the oldest due rows in (due_at, id) order: with id in the index a claim reads
    # its batch, not every due row of a round (which all share one due_at) to sort them.
    __table_args__ = (Index("ix_notifications_status_due_at_id", "status", "due_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id"))
    lender_id: Mapped[int | None] = mapped_column(ForeignKey("lenders.id"), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    circle_id: Mapped[int | None] = mapped_column(ForeignKey("circles.id"))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus, "notification_status"), default=NotificationStatus.PENDING
    )
    due_at: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ProcessedEvent(Base):
    """Slack event ids already handled, so a retried delivery is a no-op."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class SendBudget(Base):
    """A send rate that every worker process shares: the next free slot and any pause.

    Times are epoch seconds from the workers' own clocks, not the database's: a worker sleeps on
    its clock until its slot, so slots must be in its terms, and hosts kept in step by NTP agree
    to within milliseconds, far finer than the spacing Slack asks for.
    """

    __tablename__ = "send_budgets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Double)
    paused_until: Mapped[float] = mapped_column(Double)
