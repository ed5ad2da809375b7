"""Every kind of notification, once: who it goes to and which template says it.

An outbox row's ``kind`` is one of these values; the operation that writes the row, the
facts that load what it says (``storage.notifications.facts``) and the template that renders
it all name the kind from here, so none of them can drift to a string the others lack.
"""

from __future__ import annotations

import enum


class Audience(enum.Enum):
    """Who reads a message: a lender (DM, folded with their other news), a circle's channel,
    or the programme's operators (DM, about the programme itself)."""

    LENDER = "lender"
    CHANNEL = "channel"
    OPERATOR = "operator"


class Kind(enum.StrEnum):
    REPAYMENT = "repayment"
    FUNDED = "funded"
    EXPIRED = "expired"
    DEFAULTED = "defaulted"
    DELINQUENT = "delinquent"
    IMPACT = "impact"
    AUTOLEND = "autolend"
    IDLE_CREDIT = "idle_credit"
    GRANT = "grant"
    INVITE = "invite"
    # To the member who leads a circle now that its lead left (a DM: not "circle_").
    NEW_LEAD = "new_lead"
    CIRCLE_PLEDGE = "circle_pledge"
    CIRCLE_FUNDED = "circle_funded"
    CIRCLE_REPAID = "circle_repaid"
    CIRCLE_EXPIRED = "circle_expired"
    CIRCLE_DEFAULTED = "circle_defaulted"
    CIRCLE_SUMMARY = "circle_summary"
    RECONCILIATION = "reconciliation"

    @property
    def audience(self) -> Audience:
        if self is Kind.RECONCILIATION:
            return Audience.OPERATOR
        if self.value.startswith("circle_"):
            return Audience.CHANNEL
        return Audience.LENDER

    @property
    def template(self) -> str:
        return f"notifications/{self.value}.json.j2"

    @property
    def in_circles(self) -> Kind:
        """The channel post that goes with a lender's news about a project (funded, ...)."""
        return Kind(f"circle_{self.value}")

    @classmethod
    def of(cls, value: str) -> Kind | None:
        """The kind an outbox row names, or None for one no code knows (an older release's)."""
        try:
            return cls(value)
        except ValueError:
            return None


# Folds several kinds of a lender's news into one message.
DIGEST_TEMPLATE = "notifications/digest.json.j2"
