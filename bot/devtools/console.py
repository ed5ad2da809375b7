"""``microlend console``: talk to the app from a terminal as a simulated employee.

Each line is one thing a person does in Slack: a ``/lend`` command, a click on a numbered
button, filling in a modal, opening the Home tab, or waiting for time to pass. It goes to the
real app as Slack's signed request through the local emulator (``bot.devtools.console_slack``);
what the app sends back -- ephemeral replies, channel posts, DMs, modals -- is printed as text
after each line (``bot.devtools.console_screen``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.devtools.console_screen import (
    Button,
    Confirm,
    Screen,
    Style,
    initial_options,
    message_screen,
    options_of,
    printable,
    text_of,
    view_screen,
)
from bot.devtools.console_slack import (
    GENERAL,
    ConsoleClock,
    Entry,
    LocalSlack,
    Tick,
    change_time_zone,
    enter_channel,
    fast_forward,
    join_workspace,
    leave_company,
    remember,
    running_locally,
)
from bot.devtools.demo import CIRCLE, DEMO_CSV, LENDERS, DemoLender, DemoReport
from bot.devtools.emulator import Channel, Delivery, Message, SlackError, View
from bot.runtime.settings import Settings
from storage.db.database import SchemaOutOfDate

HELP = """\
  /lend ...       a slash command, as you, in the current channel (try /lend help);
                  @name mentions a colleague
  home            open your Home tab
  click N         press button [N] of what was shown last
  fill            fill in the open modal field by field, then submit it
  close           close the open modal
  as NAME         become someone else: {people}
  tz NAME ZONE    NAME sets another time zone in Slack (`tz bilal Asia/Tokyo`)
  join NAME       a new colleague joins the workspace (`join eve`), or a leaver returns
  leave NAME      NAME leaves the company: Slack deactivates them (`leave dana`)
  in #CHANNEL     move to a channel: {channels}, or `in dm` for the app's DM;
                  a new name creates the channel, with you and the app in it
  wait 2h | 3d    let time pass (m, h, d): scheduled jobs run, due messages are sent
  tomorrow        wait until 9:00 tomorrow in your time zone
  dms             your DMs from the app
  channel         the current channel's posts
  help            this list
  quit            leave"""
WAIT = re.compile(r"^(\d{1,4})\s*([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# What Slack's client makes of a typed @name or #channel when the command escapes them.
MENTION = re.compile(r"(?<![\w<|])([@#])([a-z0-9][a-z0-9._-]*)")
MULTIPLE = frozenset({"checkboxes", "multi_static_select"})
PICKS = re.compile(r"[\s,]+")
YES = frozenset({"y", "yes"})
MORNING = time(9, 0)
RECENT = 10
JsonDict = dict[str, Any]
# A view as printed: its id, its hash (new content) and its errors (a refused submission).
ViewKey = tuple[str, str, str]


class Console:
    """One session: who you are, where you are, and what you have already seen."""

    def __init__(self, local: LocalSlack, stdin: TextIO, stdout: TextIO) -> None:
        self.local = local
        self.stdin = stdin
        self.stdout = stdout
        self.echo = not stdin.isatty()
        self.style = Style(color=stdout.isatty() and "NO_COLOR" not in os.environ)
        self.user: DemoLender = LENDERS[0]
        # The demo's colleagues and whoever joined in this session, as Slack describes them.
        self.people: list[DemoLender] = list(LENDERS)
        self.channel_id: str | None = GENERAL.id
        self.buttons: tuple[Button, ...] = ()
        # Per user: the edit stamp of each message already printed, keyed by (channel, ts).
        self.seen: dict[str, dict[tuple[str, str], str | None]] = {}
        # Per user: the modal and the Home tab as last printed (or noted).
        self.seen_modal: dict[str, ViewKey] = {}
        self.seen_home: dict[str, ViewKey] = {}
        self.commands: dict[str, Callable[[str], None]] = {
            "home": self.home,
            "click": self.click,
            "fill": self.fill,
            "close": self.close,
            "as": self.become,
            "tz": self.set_time_zone,
            "join": self.join,
            "leave": self.leave,
            "in": self.move,
            "wait": self.wait,
            "tomorrow": self.tomorrow,
            "dms": self.dms,
            "channel": self.posts,
            "help": self.help,
        }

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        self.say(self.style.bold("microlend console") + " -- a local Slack, the real app.")
        self.say(self.whoami())
        self.say("Type `help` for what you can do.")
        try:
            self.news()
            while (line := self.read(self.prompt())) is not None:
                if line in ("quit", "exit"):
                    break
                if line:
                    self.execute(line)
                    self.news()
        finally:
            remember(self.local)
        return 0

    def news(self) -> None:
        """Deliver what is due (a real deployment's worker never stops), then show it."""
        self.local.worker.drain()
        self.show_news()

    def prompt(self) -> str:
        return f"{self.user.name}@{self.where()}> "

    def read(self, prompt: str) -> str | None:
        """One line (stripped), or None at the end of input; echoed when it is not typed."""
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            self.say("")
            return None
        if self.echo:
            self.stdout.write(line if line.endswith("\n") else line + "\n")
        return line.strip()

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def warn(self, text: str) -> None:
        self.say(self.style.bold("! ") + text)

    def execute(self, line: str) -> None:
        try:
            if line.startswith("/"):
                self.slash(line)
                return
            word, _, rest = line.partition(" ")
            command = self.commands.get(word.lower())
            if command is None:
                self.warn(f"I don't know `{printable(word)}`. Type `help`.")
                return
            command(rest.strip())
        except (LookupError, ValueError) as error:
            self.warn(printable(str(error)))
        except SlackError as error:
            self.warn(f"Slack refused: {error.error} {' '.join(error.messages)}".rstrip())

    # -- doing things ------------------------------------------------------------------

    def slash(self, line: str) -> None:
        command, _, text = line.partition(" ")
        self.answered(
            self.local.sender.slash_command(
                self.user.user_id, command, self.escaped(text), self.channel_id
            )
        )

    def escaped(self, text: str) -> str:
        """Known @people and #channels as Slack sends them (``<@U123|ana>``); others stay text."""
        state = self.local.slack.state

        def entity(match: re.Match[str]) -> str:
            sigil, name = match.groups()
            if sigil == "@":
                found = [u.id for u in state.users.values() if u.name == name]
            else:
                found = [c.id for c in self.channels() if c.name == name]
            return f"<{sigil}{found[0]}|{name}>" if found else match.group(0)

        return MENTION.sub(entity, text)

    def answered(self, delivery: Delivery) -> None:
        if delivery.status != 200:
            self.warn(f"The app answered HTTP {delivery.status}: {printable(delivery.body[:200])}")

    def home(self, _rest: str) -> None:
        self.answered(self.local.sender.open_home(self.user.user_id))
        view = self.local.slack.home_view(self.user.user_id)
        if view is None:
            self.warn("The app published no Home tab.")
            return
        self.seen_home[self.user.user_id] = _view_key(view)
        self.show([view])

    def click(self, rest: str) -> None:
        number = int(rest) if rest.isdigit() else 0
        button = next((b for b in self.buttons if b.number == number), None)
        if button is None:
            raise LookupError(f"There is no button [{printable(rest)}] on screen.")
        if button.confirm is not None and not self.confirmed(button.confirm):
            self.say(f"{button.confirm.deny}: nothing was sent.")
            return
        self.answered(
            self.local.sender.click(
                self.user.user_id, button.action_id, button.value, within=button.container
            )
        )

    def confirmed(self, dialog: Confirm) -> bool:
        """Slack's confirmation dialog: the click goes only if the person confirms."""
        self.say(self.style.bold(f"?? {dialog.title}"))
        if dialog.text:
            self.say(f"   {dialog.text}")
        line = self.read(f"   [{dialog.confirm}] or [{dialog.deny}]? (y/n) ")
        return line is not None and line.casefold() in YES | {dialog.confirm.casefold()}

    def fill(self, _rest: str) -> None:
        view = self.top_modal()
        values: dict[str, Any] = {}
        for block in view.blocks:
            if block.get("type") == "input" and isinstance(block.get("element"), dict):
                answer = self.ask(block)
                if answer is not None:
                    values[str(block.get("block_id"))] = answer
        self.answered(self.local.sender.submit_modal(self.user.user_id, values))
        if all(v.id != view.id for v in self.local.slack.modal_stack(self.user.user_id)):
            submit = text_of(view.payload.get("submit"), self.name_of) or "Submit"
            self.say(f'{submit}: done. "{printable(view.title)}" closed.')

    def close(self, _rest: str) -> None:
        self.top_modal()
        self.local.sender.close_modal(self.user.user_id)
        self.say("Closed.")

    def top_modal(self) -> View:
        stack = self.local.slack.modal_stack(self.user.user_id)
        if not stack:
            raise LookupError("No modal is open.")
        return stack[-1]

    def ask(self, block: JsonDict) -> Any:
        """Prompt for one input; Enter keeps what is already there."""
        element: JsonDict = block["element"]
        label = text_of(block.get("label"), self.name_of)
        options = options_of(element)
        for index, option in enumerate(options, 1):
            self.say(f"    {index}) {text_of(option.get('text'), self.name_of)}")
        several = " (several: 1 3 5)" if element.get("type") in MULTIPLE else ""
        while True:
            line = self.read(f"  {label}{several}{self.hint(element)}: ")
            if line is None:
                return _initial(element)
            answer = _answer(element, options, line)
            if answer is not _INVALID:
                return answer
            self.warn(f"Choose by number, 1 to {len(options)}.")

    def hint(self, element: JsonDict) -> str:
        """What the input holds already, as the person sees it: option labels, not values."""
        chosen = initial_options(element)
        if chosen:
            shown = ", ".join(text_of(option.get("text"), self.name_of) for option in chosen)
        else:
            shown = printable(str(element.get("initial_value") or ""))
        return f" [{shown}]" if shown else ""

    def become(self, rest: str) -> None:
        someone = self.person(rest)
        if self.local.slack.state.users[someone.user_id].deleted:
            raise LookupError(
                f"{someone.real_name} left the company: Slack lets a deactivated account do "
                f"nothing (`join {someone.name}` brings them back)."
            )
        self.user, self.buttons = someone, ()
        self.say(self.whoami())

    def person(self, name: str) -> DemoLender:
        wanted = name.removeprefix("@").casefold()
        found = [
            u for u in self.people if u.name.startswith(wanted) or u.user_id.casefold() == wanted
        ]
        if not wanted or len(found) != 1:
            raise LookupError(f"Who? The people here are {self.names()}.")
        return found[0]

    def names(self) -> str:
        return ", ".join(person.name for person in self.people)

    def set_time_zone(self, rest: str) -> None:
        name, _, zone = rest.partition(" ")
        if not zone.strip():
            raise ValueError("Say whose and which: `tz bilal Asia/Tokyo`.")
        moved = change_time_zone(self.local, self.person(name), zone.strip())
        self.people = [moved if p.user_id == moved.user_id else p for p in self.people]
        if self.user.user_id == moved.user_id:
            self.user = moved
        self.say(f"{moved.real_name} is now in {moved.tz}: Slack told the app (user_change).")

    def join(self, rest: str) -> None:
        newcomer = join_workspace(self.local, rest.strip())
        back = [person for person in self.people if person.user_id == newcomer.user_id]
        if back:
            self.say(f"{back[0].real_name} is back: Slack reactivated them (user_change).")
            return
        self.people.append(newcomer)
        self.say(
            f"{newcomer.real_name} joined the workspace, in #general (team_join);"
            f" `as {newcomer.name}` to be them."
        )

    def leave(self, rest: str) -> None:
        leaver = self.person(rest)
        if leaver.user_id == self.user.user_id:
            raise ValueError("Become someone else first (`as NAME`): you cannot leave as yourself.")
        leave_company(self.local, leaver)
        self.say(
            f"{leaver.real_name} left the company: Slack deactivated them (user_change). "
            f"`join {leaver.name}` brings them back."
        )

    def move(self, rest: str) -> None:
        if rest.casefold() in ("dm", "@microlend"):
            self.channel_id = None
            self.say(f"You are in {self.where()}.")
            return
        channel, entry = enter_channel(self.local, rest.strip(), self.user.user_id)
        self.channel_id = channel.id
        if entry is Entry.CREATED:
            self.say(f"You created {self.where()}; you and @microlend are in it.")
        elif entry is Entry.JOINED:
            self.say(f"You joined {self.where()}.")
        else:
            self.say(f"You are in {self.where()}.")

    def wait(self, rest: str) -> None:
        found = WAIT.match(rest.replace(" ", "").lower())
        if found is None:
            raise ValueError("Say how long: `wait 30m`, `wait 2h` or `wait 3d`.")
        self.forward(timedelta(**{UNITS[found.group(2)]: int(found.group(1))}))

    def tomorrow(self, _rest: str) -> None:
        zone = ZoneInfo(self.user.tz)
        local_now = self.local.clock.now().replace(tzinfo=UTC).astimezone(zone)
        morning = datetime.combine(local_now.date() + timedelta(days=1), MORNING, tzinfo=zone)
        target = morning.astimezone(UTC).replace(tzinfo=None)
        self.forward(target - self.local.clock.now())

    def forward(self, delta: timedelta) -> None:
        tick = fast_forward(self.local, delta)
        self.say(self.style.dim(f"... {self.now_text()}. {_tick_text(tick)}"))
        for failure in tick.failures:
            self.warn(f"A scheduled job failed: {printable(failure)}")

    def dms(self, _rest: str) -> None:
        messages = self.local.slack.dms(self.user.user_id)[-RECENT:]
        if not messages:
            self.say("No DMs from the app yet.")
        self.show(messages)

    def posts(self, _rest: str) -> None:
        if self.channel_id is None:
            self.dms("")
            return
        messages = self.local.slack.state.messages(self.channel_id)[-RECENT:]
        if not messages:
            self.say(f"Nothing has been posted in {self.where()} yet.")
        self.show(messages)

    def help(self, _rest: str) -> None:
        channels = ", ".join(f"#{c.name}" for c in self.channels())
        self.say(HELP.format(people=self.names(), channels=channels))

    # -- what you see ------------------------------------------------------------------

    def show_news(self) -> None:
        """Print what reached this user since the last line: messages, then a new modal."""
        seen = self.seen.setdefault(self.user.user_id, {})
        fresh = [m for m in self.visible() if seen.get((m.channel, m.ts), _UNSEEN) != m.edited_ts]
        items: list[Message | View] = list(fresh)
        stack = self.local.slack.modal_stack(self.user.user_id)
        if stack and self.seen_modal.get(self.user.user_id) != _view_key(stack[-1]):
            items.append(stack[-1])
        if items:
            self.show(items)
        self.note_home()

    def note_home(self) -> None:
        home = self.local.slack.home_view(self.user.user_id)
        if home is not None and self.seen_home.get(self.user.user_id) != _view_key(home):
            self.seen_home[self.user.user_id] = _view_key(home)
            self.say(self.style.dim("(Your Home tab changed: type `home` to see it.)"))

    def visible(self) -> list[Message]:
        user = self.user.user_id
        state = self.local.slack.state
        return [
            m
            for m in state.all_messages()
            if m.ephemeral_to == user
            or (not m.ephemeral_to and user in state.channels[m.channel].members)
        ]

    def show(self, items: Sequence[Message | View]) -> None:
        """Print items with buttons numbered from 1 across them; they are what `click` means."""
        buttons: list[Button] = []
        seen = self.seen.setdefault(self.user.user_id, {})
        for item in items:
            screen = self.screen(item, len(buttons) + 1)
            buttons += screen.buttons
            self.say(screen.text())
            if isinstance(item, Message):
                seen[(item.channel, item.ts)] = item.edited_ts
            elif item.type == "modal":
                self.seen_modal[self.user.user_id] = _view_key(item)
        self.buttons = tuple(buttons)

    def screen(self, item: Message | View, first: int) -> Screen:
        if isinstance(item, View):
            return view_screen(item, self.name_of, self.style, first)
        return message_screen(item, self.title(item), self.name_of, self.style, first)

    def title(self, message: Message) -> str:
        channel = self.local.slack.state.channels[message.channel]
        if channel.is_im:
            return "DM from microlend"
        if message.ephemeral_to:
            return f"only you can see this, in #{channel.name}"
        return f"#{channel.name}, from {self.name_of(message.user)}"

    def name_of(self, slack_id: str) -> str:
        state = self.local.slack.state
        if slack_id in state.users:
            return state.users[slack_id].name
        channel = state.channels.get(slack_id)
        return channel.name if channel else slack_id

    def channels(self) -> list[Channel]:
        return [c for c in self.local.slack.state.channels.values() if not c.is_im]

    def where(self) -> str:
        if self.channel_id is None:
            return "dm"
        return "#" + self.local.slack.state.channels[self.channel_id].name

    def whoami(self) -> str:
        return (
            f"You are {self.user.real_name} ({self.user.tz}), in {self.where()}. {self.now_text()}."
        )

    def now_text(self) -> str:
        now = self.local.clock.now().replace(tzinfo=UTC)
        local = now.astimezone(ZoneInfo(self.user.tz))
        return f"It is {now:%a %d %b %Y %H:%M} UTC, {local:%a %H:%M} for {self.user.name}"


# -- filling in inputs -----------------------------------------------------------------------

_INVALID = object()
_UNSEEN = object()


def _initial(element: JsonDict) -> Any:
    if "initial_value" in element:
        return element["initial_value"]
    values = [option.get("value") for option in initial_options(element)]
    if element.get("type") in MULTIPLE:
        return values or None
    return values[0] if values else None


def _answer(element: JsonDict, options: list[JsonDict], line: str) -> Any:
    """What the person typed, as the input's value: option numbers for selects and checkboxes."""
    if not line:
        return _initial(element)
    if not options:
        return line
    picks = [part for part in PICKS.split(line) if part]
    if not all(p.isdigit() and 1 <= int(p) <= len(options) for p in picks):
        return _INVALID
    values = [options[int(p) - 1]["value"] for p in picks]
    if element.get("type") in MULTIPLE:
        return values
    return values[0] if len(values) == 1 else _INVALID


def _view_key(view: View) -> ViewKey:
    return (view.id, view.hash, repr(sorted(view.errors.items())))


def _tick_text(tick: Tick) -> str:
    jobs = f"Ran {', '.join(tick.jobs)}. " if tick.jobs else ""
    arrived = f"{_count(tick.arrived, 'new project')} arrived. " if tick.arrived else ""
    return jobs + arrived + f"Sent {_count(tick.sent, 'message')}."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _demo_text(report: DemoReport | None) -> str:
    if report is None and not DEMO_CSV.exists():
        return f"No demo data at {DEMO_CSV}: using the database as it is."
    if report is None:
        return "Using the projects already in the database."
    return (
        f"Loaded the demo: {report.projects_loaded} Kiva projects, {len(LENDERS)} colleagues "
        f"with welcome credit, {report.pledges} pledges, {report.repayments} repayments, "
        f"and the lending circle #{CIRCLE.channel_name}."
    )


def run_console(
    settings: Settings,
    *,
    stdin: TextIO,
    stdout: TextIO,
    clock: ConsoleClock | None = None,
) -> int:
    """Run a console session until `quit` or the end of input; the exit status.

    Without a ``clock``, the console resumes the time its database was left at.
    """
    try:
        with running_locally(settings, clock) as local:
            stdout.write(_demo_text(local.demo) + "\n")
            return Console(local, stdin, stdout).run()
    except SchemaOutOfDate as error:
        stdout.write(f"! {error}\n")
        return 1
    except KeyboardInterrupt:
        # Ctrl-C leaves like `quit`; the servers were stopped on the way out.
        stdout.write("\n")
        return 130
