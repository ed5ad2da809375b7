"""Finance exports and the rows they claimed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base


class Export(Base):
    """A finance export; the rows it claimed belong to it alone, so re-exporting is stable."""

    __tablename__ = "exports"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_exports_kind_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime)
