"""Every example works, every command a message names exists: run against a fresh demo.

What counts as an example:

- in README.md, a line of a code block typed at the console (after its `ana@#general> `
  prompt) or starting with `/lend` or `microlend`; inline code that starts with `/lend ` or
  `microlend `; and inline code that is a project reference (`K758103`);
- in the help texts (`/lend help`, `/lend circle help`, `/lend admin`), inline code that
  starts with `/lend `;

each unless it holds a placeholder: a word in capitals (`REF`, `AMOUNT`, `YYYY-MM`),
`@someone`, or a choice written with `[`, `]`, `|` or `…`.

Each `/lend` example runs in a fresh demo through the console (the real app over signed HTTP)
as Ana, in `#team-lima` for circle commands and as an admin for operator ones, and must not be
refused: no usage, no "I don't know", no error. Each `microlend` example runs on a fresh demo
from the repository's root and must succeed; those that serve or talk to Slack must at least
be words `microlend` accepts (`--help` after them).

Every `/lend` command any template names, its placeholders filled in, must be one `/lend`
knows: it may be refused for what the demo holds, never answered with a usage.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.devtools.demo import CIRCLE, LENDERS
from templates.render import RenderedMessage, Renderer, render_message
from tests.bot.devtools.console_sessions import session

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TEMPLATES = ROOT / "templates"
HELP_TEXTS = ("help.json.j2", "circle_help.json.j2", "admin_help.json.j2")
ANA = LENDERS[0]

CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
NAMED_COMMAND = re.compile(r"`/lend ([^`{}]+)`")
AMOUNTS = re.compile(r"Amounts are typed as(.*?);", re.DOTALL)
PROMPT = re.compile(r"^\w+@#[\w-]+> ")
COMMENT = re.compile(r"\s+#\s.*$")
REFERENCE = re.compile(r"K\d+")
PLACEHOLDER = re.compile(r"[A-Z][A-Z-]*…?|@someone|.*[\[\]|…].*|.*\.\.\..*")
# What a console user does with `fill`: press Enter at each field, keeping what it shows.
FIELDS_KEPT = ("", "", "")

# The answers that refuse: an error, an unknown filter, an operator command for a non-admin,
# and the usage texts when they say what was wrong (asked for, they say nothing of the kind).
REFUSALS = frozenset(
    {"error.json.j2", "error_modal.json.j2", "filter_unknown.json.j2", "admin_refused.json.j2"}
)
WHAT_WAS_WRONG = {"help.json.j2": "unknown", "circle_help.json.j2": "problem"}
WHAT_WAS_WRONG |= {"admin_help.json.j2": "problem"}

# Words a template's command leaves for the person to fill, as Ana would in the demo.
FILLED = {
    "REF": "K758103",
    "AMOUNT": "20",
    "NAME": "Second",
    "TEXT": "The shop opened",
    "URL": "https://example.org/shop.jpg",
    "REASON": "welcome",
    "REFERENCE": "instalment-1",
    "@someone": "@bilal",
    "country": "peru",
    "sector": "agriculture",
}
# `microlend` commands that serve until stopped or ask Slack first.
SERVING = ("serve", "run", "worker", "console", "people sync")


def is_example(code: str) -> bool:
    return not any(PLACEHOLDER.fullmatch(word) for word in code.split())


def readme_code_lines() -> Iterator[str]:
    for block in CODE_BLOCK.findall(README.read_text()):
        for line in block.splitlines():
            yield COMMENT.sub("", PROMPT.sub("", line)).strip()


def console_script() -> tuple[str, ...]:
    """The README's console walk-through, in order, as one session."""
    (block,) = (b for b in CODE_BLOCK.findall(README.read_text()) if PROMPT.match(b))
    lines = [COMMENT.sub("", PROMPT.sub("", line)).strip() for line in block.splitlines()]
    return tuple(part for line in lines for part in (line, *FIELDS_KEPT * (line == "fill")))


def readme_examples(program: str) -> list[str]:
    inline = INLINE_CODE.findall(README.read_text())
    found = [*readme_code_lines(), *inline]
    return sorted({code for code in found if code.startswith(f"{program} ") and is_example(code)})


def help_examples() -> list[str]:
    texts = [rendered_text(render_message(name, problem="", unknown=None)) for name in HELP_TEXTS]
    named = {f"/lend {command}" for text in texts for command in NAMED_COMMAND.findall(text)}
    return sorted(command for command in named if is_example(command))


def rendered_text(message: RenderedMessage) -> str:
    return "\n".join(str(block.get("text", {}).get("text", "")) for block in message.blocks)


def lend_examples() -> list[str]:
    references = {code for code in INLINE_CODE.findall(README.read_text())}
    projects = sorted(f"/lend project {ref}" for ref in references if REFERENCE.fullmatch(ref))
    return sorted({*readme_examples("/lend"), *help_examples(), *projects})


def commands_named_in_templates() -> list[str]:
    paths = TEMPLATES.rglob("*.j2")
    return sorted({f"/lend {c}" for p in paths for c in NAMED_COMMAND.findall(p.read_text())})


def typed(command: str) -> str:
    """A named command as Ana would type it in the demo, its placeholders filled in."""
    words = command.replace("[", "").replace("]", "").split()
    return " ".join(FILLED.get(word, word).split("|")[0] for word in words)


@dataclass
class Answers:
    """The templates the app rendered, with what it rendered them with."""

    rendered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def refusals(self) -> list[str]:
        return [name for name, context in self.rendered if name in REFUSALS or wrong(name, context)]

    def usages(self) -> list[str]:
        return [name for name, context in self.rendered if wrong(name, context)]


def wrong(template: str, context: dict[str, Any]) -> bool:
    """A usage text that says what was wrong: the words were not ones it knows."""
    said = WHAT_WAS_WRONG.get(template)
    return template == "filter_unknown.json.j2" or bool(said and context.get(said))


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    seen = Answers()
    for method in ("render_message", "render_view"):
        original = getattr(Renderer, method)

        def recording(self: Renderer, template: str, /, _o: Any = original, **context: Any) -> Any:
            seen.rendered.append((template, context))
            return _o(self, template, **context)

        monkeypatch.setattr(Renderer, method, recording)
    return seen


def as_ana(database_url: str, command: str) -> str:
    """A console session of Ana's on the demo: circle commands in the circle's channel (a new
    circle in a new channel), operator commands as an admin."""
    words = command.split()
    where = {"circle": [f"in #{CIRCLE.channel_name}"]}.get(words[1], [])
    if words[1:3] == ["circle", "create"]:
        where = ["in #new-circle"]
    admins = frozenset({ANA.user_id}) if words[1] == "admin" else frozenset()
    return session(database_url, *where, command, "quit", admins=admins)


@pytest.mark.parametrize("example", lend_examples())
def test_every_lend_example_works_on_a_fresh_demo(
    database_url: str, answers: Answers, example: str
) -> None:
    transcript = as_ana(database_url, example)
    assert answers.refusals() == [], transcript


def test_the_examples_include_the_ones_people_try_first() -> None:
    examples = lend_examples()
    assert {"/lend pledge K758103 25", "/lend admin repay K1223722 11.50"} <= set(examples)
    assert "/lend project K758103" in examples and "/lend circle join" in examples
    assert not any(PLACEHOLDER.fullmatch(word) for e in examples for word in e.split())
    operators = readme_examples("microlend")
    assert "microlend check --rows 5" in operators
    assert {"20", "20 EUR", "20,00 €"} <= set(readme_amounts())
    assert any(e.startswith("microlend import projects") for e in operators)


def test_the_readme_console_walk_through_works_on_a_fresh_demo(
    database_url: str, answers: Answers
) -> None:
    script = console_script()
    assert script[0] == "/lend browse peru almost-funded" and "fill" in script
    transcript = session(database_url, *script, "quit")
    assert answers.refusals() == [], transcript
    # The console's own complaints (a button that is not there, a choice it cannot read).
    assert not re.search(r"^\s*! ", transcript, re.MULTILINE), transcript


def readme_amounts() -> list[str]:
    """The ways of typing an amount that the README promises are read."""
    (sentence,) = AMOUNTS.findall(README.read_text())
    return INLINE_CODE.findall(sentence)


@pytest.mark.parametrize("amount", readme_amounts())
def test_every_way_the_readme_types_an_amount_is_read_by_pledge_and_withdraw(
    database_url: str, answers: Answers, amount: str
) -> None:
    euros = Decimal(re.sub(r"[^0-9.]", "", amount.replace(",", ".")))
    # Bilal has more than 20.50 EUR of credit on a fresh demo.
    lines = (f"/lend pledge K758103 {amount}", "as bilal", f"/lend withdraw {amount}")
    transcript = session(database_url, *lines, "quit")
    assert answers.refusals() == [], transcript
    assert f"*Lend €{euros:.2f} to" in transcript, transcript
    assert f"*Withdraw €{euros:.2f}*" in transcript, transcript


@pytest.mark.parametrize("example", readme_examples("microlend"))
def test_every_microlend_example_in_the_readme_works_on_a_fresh_demo(
    database_url: str, monkeypatch: pytest.MonkeyPatch, example: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(ROOT)
    argv = shlex.split(example)[1:]
    serving = any(" ".join(argv).startswith(command) for command in SERVING)
    assert exit_status([*argv, "--help"] if serving else argv) == 0


def exit_status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as leaving:  # --help, and the words argparse refuses
        return int(leaving.code or 0)


@pytest.mark.parametrize("command", commands_named_in_templates())
def test_every_command_a_template_names_is_one_lend_knows(
    database_url: str, answers: Answers, command: str
) -> None:
    transcript = as_ana(database_url, typed(command))
    assert answers.usages() == [], transcript


def test_the_templates_name_the_commands_of_every_room() -> None:
    commands = commands_named_in_templates()
    assert {"/lend circle summary off", "/lend circle leave", "/lend circle feature REF"} <= set(
        commands
    )
    assert {"/lend browse", "/lend admin stats", "/lend withdraw AMOUNT|all"} <= set(commands)
