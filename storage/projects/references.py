"""Projects by what people type: microlend's short references and the sources' own ids.

A reference (``K1134814``) is unique, and chosen so that it is never another project's
external id; an external id is unique only within its source (Kiva, or one partner), so the
same id may name projects of two sources. A lookup that could mean two projects refuses
rather than guess which.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.db.unit_of_work import Refused
from storage.projects.models import Project

REFERENCE_LENGTH = 16
# What a lookup shows of the text it could not resolve.
SHOWN = 20
# How many of the projects an ambiguous lookup could mean it names.
CANDIDATES = 5


def find_project(session: Session, text: str) -> Project:
    """The project a reference (any case) or a source's id names; refused if none or several."""
    found = resolve_projects(session, [text])[text]
    if isinstance(found, Refused):
        raise found
    return session.get_one(Project, found)


def resolve_projects(session: Session, texts: Collection[str]) -> dict[str, int | Refused]:
    """What each text names: a project's id, or why it names none (unknown, or several)."""
    wanted = {text: text.strip() for text in texts}
    usable = {clean for clean in wanted.values() if clean and len(clean) <= 64}
    matches: dict[str, list[tuple[int, str]]] = {clean: [] for clean in usable}
    ordered = sorted(usable)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        by_reference: dict[str, list[str]] = {}
        for clean in chunk:
            by_reference.setdefault(clean.upper(), []).append(clean)
        rows = session.execute(
            select(Project.id, Project.reference, Project.external_id).where(
                or_(Project.reference.in_(by_reference), Project.external_id.in_(chunk))
            )
        )
        for project_id, reference, external_id in rows:
            for clean in {external_id, *by_reference.get(reference, ())}:
                if clean in matches and (project_id, reference) not in matches[clean]:
                    matches[clean].append((project_id, reference))
    return {text: _resolved(clean, matches.get(clean, [])) for text, clean in wanted.items()}


def _resolved(text: str, found: list[tuple[int, str]]) -> int | Refused:
    if not found:
        return unknown_project(text)
    if len(found) > 1:
        return ambiguous_project(text, sorted(reference for _id, reference in found))
    return found[0][0]


def unknown_project(text: str) -> Refused:
    return Refused("unknown_project", f"There is no project “{text[:SHOWN]}”.")


def ambiguous_project(text: str, references: list[str]) -> Refused:
    shown = references[:CANDIDATES]
    return Refused(
        "ambiguous_project",
        f"“{text[:SHOWN]}” is the id of several partners' projects: {', '.join(shown)}. "
        "Give the reference of the one you mean.",
    )


def reference_for(source_prefix: str, external_id: str) -> str:
    """A short reference people can type: the source's letter and its id, e.g. ``K653051``."""
    cleaned = "".join(ch for ch in external_id.upper() if ch.isascii() and ch.isalnum())
    return f"{source_prefix}{cleaned}"[:REFERENCE_LENGTH]


def alternative_references(natural: str) -> list[str]:
    """References to try, in order, when the natural one is taken: ``P123-2``, ``P123-3``..."""
    return [
        f"{natural[: REFERENCE_LENGTH - len(suffix)]}{suffix}"
        for suffix in (f"-{number}" for number in range(2, 100))
    ]
