"""Lenders, their pledges, monthly new money and payout requests."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base, string_enum

# Half of each page of pledges left free (PostgreSQL's fillfactor): room for a repayment to
# rewrite every pledge on it in place (a "HOT" update, which leaves the indexes alone).
PLEDGES_FILLFACTOR = 50


class NotifyMode(enum.StrEnum):
    AS_IT_HAPPENS = "as_it_happens"
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"


class Lender(Base):
    __tablename__ = "lenders"
    __table_args__ = (
        UniqueConstraint("workspace_id", "slack_user_id", name="uq_lenders_workspace_user"),
        CheckConstraint("work_start_minute < work_end_minute", name="working_hours"),
        # Leavers are few among 115,000: each repayment round looks for their credit here.
        Index(
            "ix_lenders_leavers",
            "id",
            postgresql_where=text("deactivated"),
            sqlite_where=text("deactivated"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    tz: Mapped[str] = mapped_column(String(64), default="UTC")
    notify_mode: Mapped[NotifyMode] = mapped_column(
        string_enum(NotifyMode, "notify_mode"), default=NotifyMode.AS_IT_HAPPENS
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
    # What Slack's directory says of the person (users.info on first contact, user_change,
    # the nightly sync); NULL where it has not said.
    real_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(35))
    # Guests: multi-channel (restricted) and single-channel (ultra restricted).
    is_restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_ultra_restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    # A person of another organisation (Slack Connect), not of the installed one.
    is_external: Mapped[bool] = mapped_column(Boolean, default=False)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    deactivated: Mapped[bool] = mapped_column(Boolean, default=False)
    # When Slack last answered users.info (or the sync) for them; NULL: not yet.
    looked_up_at: Mapped[datetime | None] = mapped_column(DateTime)
    # When the app settled their leaving (storage.people.leavers); NULL again if they return.
    left_at: Mapped[datetime | None] = mapped_column(DateTime)


class PendingLookup(Base):
    """A ``users.info`` asked for someone who appeared and not answered yet: their DMs wait a
    little for it (storage.notifications.timing). Keyed by organisation, not lender, because
    the person may not be a lender yet when the lookup starts."""

    __tablename__ = "pending_lookups"

    org_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(DateTime)


class DirectorySync(Base):
    """Where an unfinished ``people sync`` stopped: the ``users.list`` cursor of its next page,
    so a sync that dies half-way (a deploy, a 429 storm) resumes there, not at page one."""

    __tablename__ = "directory_syncs"

    org_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_cursor: Mapped[str] = mapped_column(String(255))
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Pledge(Base):
    __tablename__ = "pledges"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("from_credit >= 0 AND from_payroll >= 0", name="sources_nonnegative"),
        CheckConstraint("from_credit + from_payroll = amount", name="sources_sum"),
        CheckConstraint("repaid >= 0 AND repaid <= amount", name="repaid_in_range"),
        Index("ix_pledges_project_id_id", "project_id", "id"),
        # Most pledges are in no circle and on no payroll export: indexing only those that
        # are keeps the indexes small and out of the way of every repayment's update.
        Index(
            "ix_pledges_circle_id",
            "circle_id",
            postgresql_where=text("circle_id IS NOT NULL"),
            sqlite_where=text("circle_id IS NOT NULL"),
        ),
        Index(
            "ix_pledges_payroll_export_id",
            "payroll_export_id",
            postgresql_where=text("payroll_export_id IS NOT NULL"),
            sqlite_where=text("payroll_export_id IS NOT NULL"),
        ),
        # Every repayment rewrites ``repaid`` of every pledge of its project: room on each page
        # lets PostgreSQL write the new row version beside the old one, touching no index.
        {"postgresql_with": {"fillfactor": PLEDGES_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    circle_id: Mapped[int | None] = mapped_column(ForeignKey("circles.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    from_credit: Mapped[int] = mapped_column(BigInteger)
    from_payroll: Mapped[int] = mapped_column(BigInteger)
    repaid: Mapped[int] = mapped_column(BigInteger, default=0)
    # Money that came back to the lender and was lent again counts as a re-lend.
    is_relend: Mapped[bool] = mapped_column(Boolean, default=False)
    refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    payroll_export_id: Mapped[int | None] = mapped_column(ForeignKey("exports.id"))


class LenderMonth(Base):
    """New (payroll) money a lender pledged in one calendar month, held under the monthly cap."""

    __tablename__ = "lender_months"
    __table_args__ = (CheckConstraint("new_money >= 0", name="new_money_nonnegative"),)

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    new_money: Mapped[int] = mapped_column(BigInteger, default=0)


class PayoutReason(enum.StrEnum):
    WITHDRAWAL = "withdrawal"
    # Credit of someone who left the company, paid out without their asking.
    LEAVER = "leaver"


class PayoutRequest(Base):
    __tablename__ = "payout_requests"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    export_id: Mapped[int | None] = mapped_column(ForeignKey("exports.id"), index=True)
    reason: Mapped[PayoutReason] = mapped_column(
        string_enum(PayoutReason, "payout_reason"), default=PayoutReason.WITHDRAWAL
    )
