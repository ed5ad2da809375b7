"""A fresh copy of the demo database for each test (`database_url`), as the console tests use."""

from tests.bot.devtools.conftest import database_url, demo_template

__all__ = ["database_url", "demo_template"]
