"""A local Slack for microlend: Web API server, Block Kit rules, rate limits, signed requests.

Start with ``Emulator``; ``blockkit.validate_message_blocks``/``validate_view`` are
reusable on their own.
"""

from bot.devtools.emulator.blockkit import Violation, validate_message_blocks, validate_view
from bot.devtools.emulator.config import Channel, EmulatorConfig, User
from bot.devtools.emulator.emulator import Emulator
from bot.devtools.emulator.rate_limits import RateLimitConfig
from bot.devtools.emulator.sender import AppSender, Delivery, SentRequest, Tamper
from bot.devtools.emulator.server import BackgroundServer
from bot.devtools.emulator.state import Call, Message, SlackError, View, WorkspaceState

__all__ = [
    "AppSender",
    "BackgroundServer",
    "Call",
    "Channel",
    "Delivery",
    "Emulator",
    "EmulatorConfig",
    "Message",
    "RateLimitConfig",
    "SentRequest",
    "SlackError",
    "Tamper",
    "User",
    "View",
    "Violation",
    "WorkspaceState",
    "validate_message_blocks",
    "validate_view",
]
