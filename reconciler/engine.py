"""The pipeline behind every command, without click: resolve options, read the account, plan,
check guard rails, apply under the lock with a journal, resume.

Options follow one rule, written once in `resolve_options`: a flag wins over an environment
variable, which wins over reconciler.yaml, which wins over the default. Settings that send
credentials somewhere or run a program (MEMBRANE_BIN, MEMBRANE_API_URL, CLICKTIME_API_URL) come
only from the environment: reconciler.yaml arrives in pull requests.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.apply import Applier, EventSink
from reconciler.backends import DEFAULT_SANDBOX, BackendOptions, check_backend_name, default_timeout, open_client
from reconciler.clicktime.client import DEFAULT_CONCURRENCY, ClickTimeClient
from reconciler.clicktime.http import DEFAULT_API_URL
from reconciler.config.desired import Configuration
from reconciler.config.settings import Settings
from reconciler.diff import build_plan
from reconciler.errors import ApplyOutcome, PlanRefused, ReconcilerError
from reconciler.impact import annotate_impact
from reconciler.journal import Journal, JournalState, abandon_unfinished, latest_unfinished, state_dir
from reconciler.live import CORE_KINDS, fetch_live, fetch_touched
from reconciler.lock import ApplyLock
from reconciler.model import Key, Kind, LiveState
from reconciler.perf import kept_alive
from reconciler.plan import Plan
from reconciler.planfile import check_against_live, load_plan
from reconciler.safety import guard_rail_refusals


@dataclass(frozen=True)
class OptionRule:
    """Where one option may come from, in order of precedence after its flag."""

    env: tuple[str, ...] = ()
    setting: tuple[str, str] | None = None  # (section, key) of reconciler.yaml; ("", "backend") for top level
    default: object = None


OPTION_RULES: dict[str, OptionRule] = {
    "backend": OptionRule(("RECONCILER_BACKEND",), ("", "backend"), "sandbox"),
    "sandbox": OptionRule(("RECONCILER_SANDBOX",), None, str(DEFAULT_SANDBOX)),
    "timeout": OptionRule((), ("api", "timeout"), None),  # None: the backend's default
    "concurrency": OptionRule((), ("api", "concurrency"), DEFAULT_CONCURRENCY),
    "rate_limit": OptionRule((), ("api", "rate_limit"), None),
    "connection": OptionRule(("MEMBRANE_CONNECTION_ID",), ("membrane", "connection"), None),
    "membrane_bin": OptionRule(("MEMBRANE_BIN",)),
    "membrane_api_url": OptionRule(("MEMBRANE_API_URL", "MEMBRANE_API_URI")),
    "clicktime_api_url": OptionRule(("CLICKTIME_API_URL",), None, DEFAULT_API_URL),
}
FLAG_NAMES = {"connection": "--connection", "backend": "--backend", "sandbox": "--sandbox", "timeout": "--timeout",
              "concurrency": "--concurrency", "rate_limit": "--rate-limit"}


def resolve(name: str, flags: Mapping[str, Any], settings: Settings,
            environ: Mapping[str, str]) -> tuple[Any, str]:
    """(value, where it came from) for one option: flag > environment > settings file > default."""
    rule = OPTION_RULES[name]
    if flags.get(name) is not None:
        return flags[name], FLAG_NAMES.get(name, name)
    for variable in rule.env:
        if environ.get(variable, "").strip():
            return environ[variable].strip(), variable
    if rule.setting is not None:
        section, key = rule.setting
        table: Mapping[str, Any] = {"backend": settings.backend} if not section else getattr(settings, section)
        if table.get(key) is not None:
            return table[key], f"reconciler.yaml {section + '.' if section else ''}{key}"
    return rule.default, "default"


def resolve_options(flags: Mapping[str, Any], settings: Settings | None = None,
                    environ: Mapping[str, str] | None = None) -> BackendOptions:
    settings = settings or Settings()
    environ = os.environ if environ is None else environ

    def value(name: str) -> Any:
        return resolve(name, flags, settings, environ)[0]

    backend = check_backend_name(str(value("backend")))
    timeout = value("timeout")
    connection, connection_source = resolve("connection", flags, settings, environ)
    return BackendOptions(
        backend=backend, sandbox_path=Path(str(value("sandbox"))),
        rate_limit=_positive("rate limit", value("rate_limit"), allow_none=True),
        concurrency=int(_positive("concurrency", value("concurrency")) or DEFAULT_CONCURRENCY),
        timeout=float(_positive("timeout", timeout if timeout is not None else default_timeout(backend)) or 0),
        connection=str(connection) if connection else None, connection_source=connection_source,
        membrane_bin=value("membrane_bin"), membrane_api_url=value("membrane_api_url"),
        clicktime_api_url=str(value("clicktime_api_url")),
    )


def _positive(name: str, raw: Any, allow_none: bool = False) -> float | None:
    if raw is None and allow_none:
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ReconcilerError(f"{name}: {raw!r} is not a number") from None
    if not (0 < number < float("inf")):
        raise ReconcilerError(f"{name}: {raw!r} must be a positive, finite number")
    return number


@contextmanager
def session(options: BackendOptions) -> Iterator[ClickTimeClient]:
    """The ClickTime client for the chosen backend, closed on the way out."""
    client = open_client(options)
    try:
        yield client
    finally:
        client.close()


# -- reading and planning ----------------------------------------------------------------------
def kinds_needed(config: Configuration) -> set[Kind]:
    """The four core kinds, plus divisions and employment types when the configuration uses them
    (reading them needs a ClickTime module some accounts lack)."""
    kinds = set(CORE_KINDS)
    users = config.desired.objects[Kind.USER].values()
    for optional, field in ((Kind.DIVISION, "division"), (Kind.EMPLOYMENT_TYPE, "employment_type")):
        if config.desired.objects[optional] or any(field in u.fields for u in users):
            kinds.add(optional)
    return kinds


def assignments_needed(config: Configuration) -> dict[Key, set[str]]:
    return {key: set(job.assignments) for key, job in config.desired.objects[Kind.JOB].items()
            if job.assignments and not job.absent}


def read_and_plan(config: Configuration, client: ClickTimeClient, backend: str,
                  today: dt.date | None = None,
                  progress: Callable[[int, int], None] | None = None) -> tuple[Plan, LiveState]:
    """Read the account and plan against it, with the blast radius of destructive changes.
    `progress(done, total)`: lists read so far (see fetch_live)."""
    declared = [kind for kind, objects in config.desired.objects.items() if objects]
    lists = {key: job.assignments for key, job in config.desired.objects[Kind.JOB].items()}
    with kept_alive():  # the configuration, while the account is read and planned against
        live = fetch_live(client, assignments_needed(config), kinds=kinds_needed(config),
                          custom_field_kinds=declared, declared=lists, progress=progress)
        plan = build_plan(config, live, backend)
    if live.notes:  # how the account was read differently this time: the reviewer sees it with the plan
        plan = replace(plan, warnings=(*plan.warnings, *live.notes))
    return annotate_impact(client, plan, live, today or dt.date.today()), live


# -- applying ----------------------------------------------------------------------------------
def check_guard_rails(plan: Plan, settings: Settings, force: bool, allow_delete: bool) -> list[str]:
    """The refusals --force overrides (to be shown); raises PlanRefused for the ones left."""
    refusals = guard_rail_refusals(plan, settings, allow_delete)
    blocking = [r.reason for r in refusals if not (force and r.overridable)]
    if blocking:
        raise PlanRefused("apply refused by guard rails:\n  " + "\n  ".join(blocking))
    return [r.reason for r in refusals if force and r.overridable]


def pending(plan: Plan, resume: JournalState | None) -> list[int]:
    return [i for i in range(len(plan.changes)) if resume is None or resume.events.get(i) != "done"]


class Interrupted(ReconcilerError):
    """Ctrl-C during an apply: the writes in flight finished and were journalled; nothing new started."""

    def __init__(self, outcome: ApplyOutcome, journal: Path) -> None:
        self.outcome = outcome
        self.journal = journal
        super().__init__(f"interrupted: {len(outcome.applied)} change(s) applied and journalled in {journal}; "
                         "run `reconciler apply --resume` to finish the rest")


@dataclass
class ApplyRun:
    """One apply: what to apply, against what, reporting each change to `on_event`."""

    client: ClickTimeClient
    plan: Plan
    live: LiveState
    on_event: EventSink
    resume: JournalState | None = None
    on_note: Callable[[str], None] = lambda _: None

    def execute(self) -> ApplyOutcome:
        """Apply under the lock with a journal. Ctrl-C stops it promptly: raises Interrupted."""
        check_state_dir()
        with ApplyLock(state_dir() / "apply.lock"):
            if self.resume is None:
                for path in abandon_unfinished():
                    self.on_note(f"superseding the interrupted apply journalled in {path}")
                journal = Journal.create(self.plan)
            else:
                journal = Journal(self.resume.path)
                journal.write({"event": "resume"})
            stop = threading.Event()
            applier = Applier(self.client, self.live, self.on_event, journal,
                              self.resume.events if self.resume else None, self.plan.ids, stop)
            try:
                outcome = applier.apply(self.plan)
            except KeyboardInterrupt:
                journal.close(finished=False)
                raise Interrupted(applier.outcome, journal.path) from None
            except BaseException:  # failures: `apply --resume` continues from the journal
                journal.close(finished=False)
                raise
            journal.close(finished=True)
        return outcome


def finish_journal(state: JournalState) -> None:
    Journal(state.path).close(finished=True)


def find_resumable(config: Configuration, force: bool, warn: Callable[[str], None]) -> JournalState:
    check_state_dir()
    state = latest_unfinished()
    if state is None:
        raise ReconcilerError(f"nothing to resume: no interrupted apply is journalled in {state_dir() / 'journal'}")
    if state.plan.config_checksum != config.checksum:
        message = (f"the interrupted apply in {state.path} was made from another configuration than the one in "
                   f"{config.root}")
        if not force:
            raise PlanRefused(message + "; make a new plan (`apply` supersedes it), or pass --force to finish it")
        warn(message + "; finishing it anyway (--force)")
    return state


def check_state_dir() -> None:
    """Journals and the lock live in the state directory; one that arrives with the reviewed tree
    (a symlink, or files git tracks) could point them at anything."""
    directory = state_dir()
    if directory.is_symlink():
        raise ReconcilerError(f"the state directory {directory} is a symbolic link; it must be a plain directory")
    if directory.is_dir() and _tracked_by_git(directory):
        raise ReconcilerError(f"the state directory {directory} holds files committed to the repository; remove them "
                              "from git (and add the directory to .gitignore)")


def _tracked_by_git(directory: Path) -> bool:
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return False
    try:
        found = subprocess.run([git, "ls-files", "--", "."], cwd=directory, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return found.returncode == 0 and bool(found.stdout.strip())


def load_saved_plan(plan_file: Path, config: Configuration, force: bool,
                    warn: Callable[[str], None]) -> Plan:
    saved = load_plan(plan_file)
    if saved.config_checksum != config.checksum:
        message = f"{plan_file} was made from a different configuration than the one in {config.root}; make a new plan"
        if not force:
            raise PlanRefused(message + " (or pass --force)")
        warn(f"{message}; applying it anyway (--force)")
    return saved


def read_touched(client: ClickTimeClient, plan: Plan, config: Configuration, label: str) -> LiveState:
    """What a saved plan touches, checked against what it saw when it was made, and every change
    in it checked to follow from the configuration: a hand-edited plan is refused, even with the
    original checksum."""
    live = fetch_touched(client, plan)
    check_against_live(plan, live, label)
    check_follows_from(plan, config, live, label)
    return live


def check_follows_from(saved: Plan, config: Configuration, live: LiveState, label: str) -> None:
    """Plan again, from the configuration and the live objects the saved plan touches; each saved
    change must be one the new plan makes, with the same new values."""
    from dataclasses import replace

    from reconciler.errors import ConfigError

    try:  # references to objects the saved plan does not touch were checked when it was made
        again = build_plan(replace(config, dangling=[]), live, saved.backend)
    except ConfigError as error:
        raise PlanRefused(f"{label}: the configuration no longer plans cleanly against the account:\n  "
                          + "\n  ".join(str(p) for p in error.problems)) from None
    made = {_identity(c): _new_values(c) for c in again.changes}
    stray = [c.label for c in saved.changes if made.get(_identity(c)) != _new_values(c)]
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise PlanRefused(f"{label}: {len(stray)} change(s) do not follow from the configuration in {config.root} and "
                          f"the account: {shown}. Make a new plan.")


def _identity(change: Any) -> tuple[Any, ...]:
    return (change.action, change.kind, change.key, change.list_name, change.target)


def _new_values(change: Any) -> dict[str, Any]:
    return {name: field.new for name, field in change.fields.items()}


# -- import ------------------------------------------------------------------------------------
def read_for_import(client: ClickTimeClient, chosen: set[Kind]) -> tuple[LiveState, dict[Kind, dict[str, Any]]]:
    """What `import` reads: every record of the chosen kinds the account can hold, every
    assignment list, and each kind's /new template (ClickTime's defaults, left out of the files)."""
    from reconciler.model import KINDS

    readable = [k for k in KINDS if k in CORE_KINDS or k in chosen]
    live = fetch_live(client, all_assignments=Kind.JOB in chosen, kinds=readable)
    defaults = {k: client.get_object(f"/{k.collection}/new") for k in chosen if k not in live.unavailable}
    return live, defaults



@dataclass(frozen=True)
class ImportResult:
    written: list[Path]
    warnings: list[str]


def import_account(client: ClickTimeClient, out: Path, force: bool, kinds: str | None, match: str | None,
                   all_fields: bool, active_only: bool, backend: str | None = None) -> ImportResult:
    """Write the live account as a configuration directory that plans to no changes (against
    `backend`, which a new reconciler.yaml names)."""
    from reconciler.config.loader import discover
    from reconciler.export import ImportOptions, write_export
    from reconciler.model import KINDS

    chosen = set(KINDS)
    if kinds:
        by_section = {k.section: k for k in KINDS}
        unknown = [k for k in kinds.split(",") if k.strip() not in by_section]
        if unknown:
            raise ReconcilerError(f"--kinds: unknown kind(s) {', '.join(unknown)}; known: {', '.join(by_section)}")
        chosen = {by_section[k.strip()] for k in kinds.split(",")}
    existing = discover(out) if out.is_dir() else []
    if existing and not force:
        raise ReconcilerError(f"{out} already holds {len(existing)} YAML file(s) ({existing[0].relative_to(out)}, "
                              "...); choose an empty directory or pass --force")
    live, defaults = read_for_import(client, chosen)
    options = ImportOptions(frozenset(chosen), match, all_fields, active_only, defaults)
    if out.is_symlink():
        raise ReconcilerError(f"{out} is a symbolic link; import writes only into a plain directory")
    written = write_export(live, out, options, remove_stale=force, backend=backend)
    warnings = [f"{count} {kind.section} without a client were not imported (they have no natural key); they "
                "stay as they are and plans leave them alone" for kind, count in live.unkeyed.items()]
    warnings += [f"{kind.section} not imported: {reason}" for kind, reason in live.unavailable.items()
                 if kind in chosen and kinds]
    return ImportResult(written, warnings)


# -- first contact -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeReport:
    findings: list[Any]
    calls: int
    plan_summary: str
    cassette: Path | None


def first_contact(options: BackendOptions, config: Configuration | None, record: Path | None) -> ProbeReport:
    """The read-only probe, and with a configuration the reads a plan of it makes, optionally
    recorded as a redacted cassette that replays to the same answers."""
    from reconciler.clicktime.cassette import RecordingTransport
    from reconciler.probe import run_probe
    from reconciler.render import summary_line
    from reconciler.secrets import known_secrets

    recorder: list[RecordingTransport] = []

    def wrap(transport: Any) -> Any:
        recorder.append(RecordingTransport(transport, known_secrets()))
        return recorder[0]

    client = open_client(options, wrap if record is not None else None)
    try:
        findings = run_probe(client)
        if record is not None:  # so that `import` works against the replayed cassette
            from reconciler.model import KINDS

            read_for_import(client, set(KINDS))
        summary = ""
        if config is not None:
            plan, _ = read_and_plan(config, client, options.backend)
            summary = summary_line(plan)
        calls = client.calls
    finally:
        client.close()
    cassette = recorder[0].write(record, options.backend) if record is not None and recorder else None
    return ProbeReport(findings, calls, summary, cassette)
