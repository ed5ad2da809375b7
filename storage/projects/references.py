"""Projects by what people type: short references and source ids."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.projects.models import Project


def find_project(session: Session, ref: str) -> Project | None:
    """A project by its short reference (any case) or by the source's external id."""
    text = ref.strip()
    if not text or len(text) > 64:
        return None
    return session.execute(
        select(Project).where(or_(Project.reference == text.upper(), Project.external_id == text))
    ).scalar_one_or_none()


def reference_for(source_prefix: str, external_id: str) -> str:
    """A short reference people can type: the source's letter and its id, e.g. ``K653051``."""
    cleaned = "".join(ch for ch in external_id.upper() if ch.isascii() and ch.isalnum())
    return f"{source_prefix}{cleaned}"[:16]
