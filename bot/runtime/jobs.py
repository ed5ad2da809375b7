"""The scheduled jobs: thin ticks that call ``storage`` and enqueue notifications by period.

Each job is a name, a cron schedule (configurable) and a tick taking a ``JobContext``; the
scheduler (``bot.runtime.scheduler``) runs them, and ``microlend jobs list`` / ``jobs run NAME`` use
``list_jobs`` and ``run_job`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.installations import Installations, installed_clients
from bot.runtime.people_sync import SyncResult, sync_profiles
from bot.runtime.settings import Settings, load_settings, retention_days
from bot.runtime.slack_directory import installation_of
from storage.circles.summaries import circle_weekly_summaries
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.ledger.reconciliation import alert_operators
from storage.lending.autolend import run_autolend
from storage.lending.idle_credit import idle_credit_reminders
from storage.lending.rules import LendingRules
from storage.people.privacy import purge_sent_texts
from storage.projects.lifecycle import expire_due_projects, flag_delinquent

Clock = Callable[[], datetime]


def slack_from_settings() -> list[WebClient]:
    """The Web API client of the deployment's bot token; none where there is none (SQLite
    pilots without Slack, tests). OAuth mode passes ``installed_clients`` instead."""
    settings = load_settings()
    if not settings.slack_bot_token:
        return []
    return [WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)]


def clients_for(settings: Settings, db: Database) -> Callable[[], list[WebClient]]:
    """Where the jobs that ask Slack get their clients: every installation's in OAuth mode."""
    if settings.oauth is None:
        return slack_from_settings
    installations = Installations(db.engine, settings.oauth)
    return lambda: installed_clients(installations, db.sessions, settings.slack_api_url)


@dataclass(frozen=True)
class JobContext:
    factory: sessionmaker[Session]
    rules: LendingRules
    clock: Clock = utcnow
    # The Slack user ids told when the books do not reconcile (MICROLEND_ADMINS).
    operators: frozenset[str] = frozenset()
    # The jobs that ask Slack (people-sync) get a client per installation here; the console
    # its emulator's.
    slack: Callable[[], list[WebClient]] = slack_from_settings
    # MICROLEND_RETENTION_DAYS, read here so that every builder of a context honours it.
    retention_days: int = field(default_factory=retention_days)


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    tick: Callable[[JobContext], object]


@dataclass(frozen=True)
class JobInfo:
    name: str
    description: str
    schedule: str
    next_run: datetime | None


@dataclass(frozen=True)
class JobRun:
    name: str
    started: datetime
    result: object


def _expire(ctx: JobContext) -> object:
    return expire_due_projects(ctx.factory, now=ctx.clock(), leaver_credit=ctx.rules.leaver_credit)


def _autolend(ctx: JobContext) -> object:
    return run_autolend(ctx.factory, ctx.rules, now=ctx.clock())


def _delinquency(ctx: JobContext) -> object:
    return flag_delinquent(ctx.factory, ctx.rules, now=ctx.clock())


def _idle_credit(ctx: JobContext) -> object:
    return idle_credit_reminders(ctx.factory, ctx.rules, now=ctx.clock())


def _reconcile(ctx: JobContext) -> object:
    return alert_operators(ctx.factory, ctx.operators, now=ctx.clock())


def _people_sync(ctx: JobContext) -> object:
    clients = ctx.slack()
    if not clients:
        return "skipped: no SLACK_BOT_TOKEN or installation to ask Slack's directory with"
    results = [
        sync_profiles(client, ctx.factory, installation_of(client).org_key, ctx.rules.leaver_credit)
        for client in clients
    ]
    return results[0] if len(results) == 1 else SyncResult.total(results)


def _circle_summaries(ctx: JobContext) -> object:
    return circle_weekly_summaries(ctx.factory, now=ctx.clock())


def _purge_sent_texts(ctx: JobContext) -> object:
    return purge_sent_texts(ctx.factory, retention_days=ctx.retention_days, now=ctx.clock())


JOBS: Mapping[str, Job] = MappingProxyType(
    {
        job.name: job
        for job in (
            Job("expire", "close projects past their deadline, refund pledges", _expire),
            Job("autolend", "re-lend credit for lenders who turned auto-lend on", _autolend),
            Job("delinquency", "flag loans behind schedule, tell their lenders", _delinquency),
            Job("idle-credit", "monthly reminder of credit unused for 30 days", _idle_credit),
            Job(
                "circle-summaries", "last week's summary in each circle channel", _circle_summaries
            ),
            Job("reconcile", "check the books; tell the operators when a rule breaks", _reconcile),
            Job("people-sync", "lenders' profiles from Slack's directory, resumable", _people_sync),
            Job(
                "purge-sent-texts",
                "forget whom messages named once sent MICROLEND_RETENTION_DAYS ago",
                _purge_sent_texts,
            ),
        )
    }
)


@dataclass(frozen=True)
class JobSchedule:
    """Cron expressions (minute hour day month weekday, UTC) for each job; all configurable.

    Digests need no job: a digest lender's rows come due when their period ends
    (``storage.notifications.timing.delivery_time``) and the worker folds them into one message.
    """

    crons: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {
                "expire": "*/15 * * * *",
                "autolend": "30 * * * *",
                "delinquency": "0 5 * * *",
                "idle-credit": "0 7 1 * *",
                "circle-summaries": "0 7 * * mon",
                "reconcile": "45 4 * * *",
                "people-sync": "30 1 * * *",
                "purge-sent-texts": "15 3 * * *",
            }
        )
    )

    def trigger(self, name: str) -> CronTrigger:
        return CronTrigger.from_crontab(self.crons[name], timezone=UTC)


def run_job(ctx: JobContext, name: str) -> JobRun:
    """``microlend jobs run NAME``: one tick now; raises KeyError naming the known jobs."""
    job = JOBS.get(name)
    if job is None:
        raise KeyError(f"no job {name!r}; the jobs are {', '.join(JOBS)}")
    started = ctx.clock()
    return JobRun(name, started, job.tick(ctx))


def list_jobs(schedule: JobSchedule | None = None, *, now: datetime | None = None) -> list[JobInfo]:
    """``microlend jobs list``: every job with its schedule and next run (aware UTC)."""
    schedule = schedule or JobSchedule()
    moment = (now or utcnow()).replace(tzinfo=UTC)
    return [
        JobInfo(
            job.name,
            job.description,
            schedule.crons[job.name],
            schedule.trigger(job.name).get_next_fire_time(None, moment),
        )
        for job in JOBS.values()
    ]
