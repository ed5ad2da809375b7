"""``python -m bot``: the microlend command line."""

from bot.cli import main

raise SystemExit(main())
