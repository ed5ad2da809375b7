"""Lending circles and their members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base


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


class CircleInvitation(Base):
    """Someone a member invited: what lets them join from outside the circle's channel."""

    __tablename__ = "circle_invitations"

    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), primary_key=True)
    invitee_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True, index=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"))
    invited_at: Mapped[datetime] = mapped_column(DateTime)
