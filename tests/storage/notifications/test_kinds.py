"""One vocabulary of notifications: every kind has its template and a loader of its facts, and
every template a kind."""

from __future__ import annotations

from pathlib import Path

from storage.notifications.facts import LOADED_KINDS
from storage.notifications.kinds import DIGEST_TEMPLATE, Audience, Kind

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def test_every_kind_has_a_template_and_every_template_a_kind() -> None:
    for kind in Kind:
        assert (TEMPLATES / kind.template).is_file(), kind
    named = {f"notifications/{path.name}" for path in (TEMPLATES / "notifications").glob("*.j2")}
    partials = {name for name in named if Path(name).name.startswith("_")}
    assert named - partials - {DIGEST_TEMPLATE} == {kind.template for kind in Kind}


def test_every_kind_has_a_loader_of_its_facts() -> None:
    assert set(Kind) == LOADED_KINDS


def test_each_kind_says_who_reads_it() -> None:
    assert {kind for kind in Kind if kind.audience is Audience.OPERATOR} == {Kind.RECONCILIATION}
    for kind in (Kind.FUNDED, Kind.EXPIRED, Kind.DEFAULTED):
        assert kind.in_circles.audience is Audience.CHANNEL
    assert Kind.of("no such kind") is None


def test_the_new_lead_of_a_circle_hears_by_dm_not_in_the_channel() -> None:
    assert Kind.NEW_LEAD.audience is Audience.LENDER
    assert Kind.INVITE.audience is Audience.LENDER
