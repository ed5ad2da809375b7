"""`/lend privacy`: what is kept about a person, why, and whom to ask for an export or erasure.

Operators run the export and the erasure (`microlend privacy`): an erasure pays money out
and hands circles on, which no one should start by a mistyped command.
"""

from __future__ import annotations

from slack_bolt import App

from handlers.context import CommandRequest, Reply, Services, Subcommands


def privacy(request: CommandRequest) -> Reply:
    services = request.services
    return Reply(
        services.message(
            "privacy.json.j2",
            contact=services.privacy_contact,
            operators=sorted(services.admins),
            retention_days=services.retention_days,
        )
    )


def register(_app: App, _services: Services, subcommands: Subcommands) -> None:
    subcommands["privacy"] = privacy
