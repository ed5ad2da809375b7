"""A local Slack for microlend: Web API server, Block Kit rules, rate limits, signed requests.

Start with ``Emulator``; ``blockkit.validate_message_blocks``/``validate_view`` are
reusable on their own.
"""

from bot.emulator.blockkit import Violation, validate_message_blocks, validate_view
from bot.emulator.config import Channel, EmulatorConfig, User
from bot.emulator.emulator import Emulator
from bot.emulator.rate_limits import RateLimitConfig
from bot.emulator.sender import AppSender, Delivery, SentRequest, Tamper
from bot.emulator.server import BackgroundServer
from bot.emulator.state import Call, Message, SlackError, View, WorkspaceState

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
