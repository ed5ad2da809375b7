"""What an operator was asked to confirm, kept until they confirm it.

A confirmation shows the exact effect of an operation. Its plan is recorded under the
confirmation's intent id, with a fingerprint of the operation's parameters and of who was
asked; the Confirm runs the operation only if that record exists with the same fingerprint
and the plan, worked out again, is still the same. A button value changed in any way, clicked
by someone else, or out of date therefore moves nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from storage.db.models import Operation
from storage.db.unit_of_work import Outcome, Refused, fingerprint, run

Plan = TypeVar("Plan")
KIND = "proposal"


@dataclass(frozen=True)
class Proposal:
    """A confirmation: its intent id and the id of the person it was shown to."""

    intent: str
    asked: str

    @property
    def key(self) -> str:
        return f"{KIND}:{self.intent}"

    def params(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"kind": kind, "asked": self.asked, "params": params}


def propose(
    factory: sessionmaker[Session],
    proposal: Proposal,
    kind: str,
    params: dict[str, Any],
    plan: Callable[[Session], Plan],
    plan_type: type[Plan],
) -> Outcome[Plan]:
    """Work out the plan of operation ``kind`` with ``params`` and keep it for the Confirm."""
    return run(factory, KIND, proposal.key, proposal.params(kind, params), plan, plan_type)


def require_proposed(
    session: Session, proposal: Proposal, kind: str, params: dict[str, Any], plan: Any
) -> None:
    """Refuse unless ``proposal`` showed exactly this operation and this plan."""
    shown = session.get(Operation, proposal.key)
    digest = fingerprint(KIND, proposal.params(kind, params))
    if shown is None or shown.fingerprint != digest:
        raise Refused(
            "not_proposed",
            "That confirmation does not match anything you were asked to confirm; "
            "nothing changed. Ask again with the command.",
        )
    if shown.result != _encoded(plan):
        raise Refused(
            "plan_changed",
            "The figures have changed since you were asked; nothing changed. "
            "Ask again with the command to see them as they are now.",
        )


def _encoded(plan: Any) -> dict[str, Any]:
    # As the unit of work stored it: the dataclass as JSON.
    encoded: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(plan), default=str))
    return encoded
