"""Projects and their partners: the loans people lend to."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base, string_enum


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
        # A source's ids are its own: Kiva's loan 1134814 and a partner's 1134814 are two loans.
        UniqueConstraint("source", "external_id", name="uq_projects_source_external_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    # "kiva", or "partner:<partner's external id>" for microlend's own formats.
    source: Mapped[str] = mapped_column(String(80))
    external_id: Mapped[str] = mapped_column(String(64), index=True)
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
        string_enum(RepaymentInterval, "repayment_interval")
    )
    status: Mapped[ProjectStatus] = mapped_column(
        string_enum(ProjectStatus, "project_status"), default=ProjectStatus.FUNDRAISING
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

    def days_left(self, now: datetime) -> int:
        """Whole days until the deadline, as every card and post says it."""
        return max((self.deadline - now).days, 0)


class ImpactUpdate(Base):
    __tablename__ = "impact_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    photo_url: Mapped[str | None] = mapped_column(String(500))
    posted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


LENT_STATUSES = (ProjectStatus.FUNDED, ProjectStatus.REPAYING)
