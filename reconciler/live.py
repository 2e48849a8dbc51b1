"""Fetch the live account through the ClickTime client into a LiveState keyed by natural key."""

from __future__ import annotations

import heapq
import itertools
import threading
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any, TypeVar, cast

from reconciler.clicktime.client import ClickTimeClient
from reconciler.clicktime.keys import NATURAL_KEYS
from reconciler.config.chars import nfc
from reconciler.errors import ApiError, BackendError, MalformedAnswer
from reconciler.model import (
    ASSIGNMENTS,
    FIELDS,
    KINDS,
    Key,
    Kind,
    LiveObject,
    LiveState,
    format_key,
    live_fields,
    normalise_email,
)
from reconciler.perf import without_gc
from reconciler.plan import Plan
from reconciler.rules import CUSTOM_FIELD_KINDS, assignment_lists_allowed, gated_api_fields, kind_unavailable


def natural_key(kind: Kind, record: Mapping[str, Any], client_short_name_by_id: Mapping[str, str]) -> Key | None:
    """The record's natural key (see NATURAL_KEYS); None for a job whose client is unknown."""
    fields = NATURAL_KEYS[kind.collection]
    if kind is Kind.JOB:
        client = client_short_name_by_id.get(record.get("ClientID") or "")
        return (nfc(client), nfc(str(record["JobNumber"]))) if client else None
    value = nfc(str(record[fields[0]]))  # the configuration's keys are NFC too: one visible text, one key
    return (normalise_email(value),) if kind is Kind.USER else (value,)


@without_gc
def build_live_state(records: Mapping[Kind, list[dict[str, Any]]], company: Mapping[str, Any],
                     me: Mapping[str, Any] | None = None) -> LiveState:
    state = LiveState(company=dict(company), me=dict(me or {}))
    supported = {kind: supported_fields(kind, company) for kind in KINDS}
    client_by_id = {r["ID"]: r["ShortName"] for r in records.get(Kind.CLIENT, [])}
    keys: dict[Kind, dict[str, Key]] = {kind: {} for kind in KINDS}
    for kind in KINDS:
        seen: dict[Key, str] = {}
        for record in records.get(kind, []):
            key = natural_key(kind, record, client_by_id)
            if key is None:
                state.unkeyed[kind] = state.unkeyed.get(kind, 0) + 1
            elif key in seen:
                raise BackendError(f"the account holds two {kind.section} with the key {'/'.join(key)} "
                                   f"(IDs {seen[key]} and {record['ID']}); resolve it in ClickTime")
            else:
                seen[key] = record["ID"]
                keys[kind][record["ID"]] = key
    for kind in KINDS:
        for record in records.get(kind, []):
            key = keys[kind].get(record["ID"])
            if key is not None:
                state.objects[kind][key] = LiveObject(kind, key, record["ID"], record,
                                                      live_fields(kind, record, keys, supported[kind]))
    return state


T = TypeVar("T")
R = TypeVar("R")
CORE_KINDS = frozenset({Kind.CLIENT, Kind.TASK, Kind.USER, Kind.JOB})
# Jobs per relationship read both ways every run before reverse reads are trusted for the rest.
CROSS_CHECK_JOBS = 2
DeclaredLists = Mapping[Key, Mapping[str, frozenset[Key]]]


def fetch_live(client: ClickTimeClient, assignments_for: Mapping[Key, Iterable[str]] | None = None,
               all_assignments: bool = False, kinds: Iterable[Kind] = CORE_KINDS,
               custom_field_kinds: Iterable[Kind] = (), declared: DeclaredLists | None = None,
               progress: Callable[[int, int], None] | None = None) -> LiveState:
    """Read the account: the company first (its settings say what the account can hold), then
    every record of `kinds` it can hold, the custom-field definitions of `custom_field_kinds`, and
    assignment lists only for the jobs asked for (`declared`: the sets the configuration wants,
    see read_assignments). `progress(done, total)`: lists read so far, per phase."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        company_read, me_read = pool.submit(client.company), pool.submit(client.me)
        company, me = company_read.result(), me_read.result()
    requested = set(kinds)
    unavailable = {kind: reason for kind in KINDS if kind in requested and (reason := kind_unavailable(kind, company))}
    wanted_kinds = [kind for kind in KINDS if kind in requested and kind not in unavailable]
    definitions_for = [k for k in KINDS if k in set(custom_field_kinds) and k in CUSTOM_FIELD_KINDS
                       and k not in unavailable]
    with ThreadPoolExecutor(max_workers=len(wanted_kinds) + len(definitions_for) or 1) as pool:
        lists = {kind: pool.submit(client.list_all, kind.collection) for kind in wanted_kinds}
        defined = {kind: pool.submit(_definitions, client, kind) for kind in definitions_for}
        reads: list[Any] = [*lists.values(), *defined.values()]
        for done, _ in enumerate(as_completed(reads), 1):
            if progress is not None:
                progress(done, len(reads))
        records = {kind: future.result() for kind, future in lists.items()}
        definitions = {kind: future.result() for kind, future in defined.items()}
    state = build_live_state(records, company, me)
    state.unavailable = unavailable
    state.custom_fields = {kind: found for kind, found in definitions.items() if found is not None}
    allowed = assignment_lists_allowed(company)
    wanted: dict[Key, set[str]] = {}
    if all_assignments:
        wanted = {key: {n for n, ok in allowed.items() if ok} for key in state.objects[Kind.JOB]}
    else:
        for key, names in (assignments_for or {}).items():
            if key in state.objects[Kind.JOB]:
                wanted[key] = {n for n in names if allowed[n]}
    read_assignments(client, state, wanted, declared, progress)
    return state


def _definitions(client: ClickTimeClient, kind: Kind) -> list[Mapping[str, Any]] | None:
    """The kind's custom-field definitions; None when the account does not answer for them."""
    try:
        return list(client.list_pages(f"{kind.collection}/CustomFieldDefinitions", []))
    except ApiError:
        return None


def supported_fields(kind: Kind, company: Mapping[str, Any]) -> frozenset[str]:
    """API fields the account holds for this kind, so an answer that leaves one out means "unset"."""
    return frozenset(spec.api for spec in FIELDS[kind]) - gated_api_fields(kind, company)


def read_assignments(client: ClickTimeClient, state: LiveState, wanted: Mapping[Key, Iterable[str]],
                     declared: DeclaredLists | None = None, progress: Callable[[int, int], None] | None = None) -> None:
    """Each wanted job's assignment lists, relationship by relationship (job tasks, job users),
    in whichever direction costs fewer calls: per job (GET /Jobs/{id}/Tasks), or per task and per
    user (GET /Tasks/{id}/Jobs, GET /Jobs?UserID=), which give every job's whole set at once.
    Reverse reads are trusted only after a few jobs read both ways agree, in this run; otherwise
    every job is read on its own and `state.notes` says why. `declared`: the configuration's
    sets, so that the cross-check samples jobs where a wrong read would lead to a write."""
    key_by_id = {kind: {obj.id: key for key, obj in state.objects[kind].items()} for kind in KINDS}
    found: dict[tuple[Key, str], Collection[str]] = {}
    per_job: list[tuple[Key, str]] = []
    for list_name in ASSIGNMENTS:
        jobs = sorted(job for job, lists in wanted.items() if list_name in set(lists))
        if not jobs:
            continue
        read = None
        if _reverse_cost(client, state, list_name, jobs, declared) + CROSS_CHECK_JOBS < len(jobs):
            read = _read_reverse(client, state, list_name, jobs, declared, key_by_id, found)
        if read is None:
            per_job += [(job, list_name) for job in jobs]
        else:
            found.update(((job, list_name), ids) for job, ids in read.items())

    def read_one(item: tuple[Key, str]) -> list[str]:
        job_key, list_name = item
        ids = client.assigned_ids(state.objects[Kind.JOB][job_key].id, ASSIGNMENTS[list_name][1])
        if progress is not None:
            progress(next(counted), len(per_job))  # itertools.count: one step at a time across threads
        return ids

    per_job = [item for item in per_job if item not in found]  # cross-checked jobs are read already
    counted = itertools.count(1)
    found.update(zip(per_job, run_bounded(read_one, per_job, client.concurrency), strict=True))
    for (job_key, list_name), ids in sorted(found.items()):
        target_kind = ASSIGNMENTS[list_name][0]
        state.assignments.setdefault(job_key, {})[list_name] = keys_of(ids, target_kind, key_by_id[target_kind])
        state.assignment_ids.setdefault(job_key, {})[list_name] = frozenset(ids)


def keys_of(ids: Iterable[str], kind: Kind, key_by_id: Mapping[str, Key]) -> frozenset[Key]:
    """The natural keys of the objects with these IDs; an ID the account did not list stands
    for itself, as `<unknown task ID>` (the plan then says what it cannot name)."""
    keys = frozenset(map(key_by_id.get, ids))
    if None not in keys:
        return cast("frozenset[Key]", keys)
    return frozenset(key_by_id.get(i) or (f"<unknown {kind.value} {i}>",) for i in ids)


def _reverse_cost(client: ClickTimeClient, state: LiveState, list_name: str, jobs: Sequence[Key],
                  declared: DeclaredLists | None) -> int:
    """Calls that reading `list_name` the other way round takes: one unpaged GET per task; for
    users, one paged list per user and per IsActive value the wanted jobs have, plus the pages
    beyond the first that the expected assignments fill."""
    if list_name == "tasks":
        return len(state.objects[Kind.TASK])
    states = {state.objects[Kind.JOB][job].active for job in jobs}
    expected = sum(len((declared or {}).get(job, {}).get(list_name, ())) for job in jobs) if declared else len(jobs)
    return len(state.objects[Kind.USER]) * len(states) + expected // max(1, client.page_size)


def _read_reverse(client: ClickTimeClient, state: LiveState, list_name: str, jobs: Sequence[Key],
                  declared: DeclaredLists | None, key_by_id: Mapping[Kind, Mapping[str, Key]],
                  per_job: dict[tuple[Key, str], Collection[str]]) -> dict[Key, Collection[str]] | None:
    """The wanted jobs' sets read per task or per user, or None (with a note) when the account
    refuses those reads or a cross-checked job reads differently per job. The cross-checked
    jobs' per-job answers go into `per_job` either way."""
    target_kind, sub = ASSIGNMENTS[list_name]
    job_objects = state.objects[Kind.JOB]
    sets: dict[str, set[str]] = {job_objects[job].id: set() for job in jobs}
    targets = sorted(obj.id for obj in state.objects[target_kind].values())
    items: list[tuple[str, bool]]
    if list_name == "tasks":
        items = [(target, True) for target in targets]
    else:  # active and inactive jobs are separate reads: only those the wanted jobs need
        states = sorted({job_objects[job].active for job in jobs}, reverse=True)
        items = [(target, active) for target in targets for active in states]

    def read(item: tuple[str, bool]) -> list[str]:
        target, active = item
        return client.task_job_ids(target) if list_name == "tasks" else client.user_job_ids(target, active)

    how = "per task (GET /Tasks/{id}/Jobs)" if list_name == "tasks" else "per user (GET /Jobs?UserID=)"
    try:
        answers = run_bounded(read, items, client.concurrency)
    except MalformedAnswer as error:
        state.notes.append(f"job {list_name} were read per job: reading them {how} gave an answer the tool does "
                           f"not accept ({error})")
        return None
    except ApiError as error:
        state.notes.append(f"job {list_name} were read per job: the account refused reading them {how} "
                           f"(HTTP {error.status})")
        return None
    for (target, _), job_ids in zip(items, answers, strict=True):
        for job_id in job_ids:
            if job_id in sets:
                sets[job_id].add(target)
    read_back: dict[Key, Collection[str]] = {job: sets[job_objects[job].id] for job in jobs}
    sample = _cross_check_sample(list_name, read_back, declared, key_by_id[target_kind])
    checked = run_bounded(lambda job: client.assigned_ids(job_objects[job].id, sub), sample, client.concurrency)
    per_job.update(((job, list_name), ids) for job, ids in zip(sample, checked, strict=True))
    for job, ids in zip(sample, checked, strict=True):
        if set(ids) != read_back[job]:
            missing, extra = len(set(ids) - set(read_back[job])), len(set(read_back[job]) - set(ids))
            state.notes.append(f"job {list_name} were read per job: for job {format_key(job)}, reading them {how} "
                               f"missed {missing} and added {extra} of what GET /Jobs/{{id}}/{sub} answers")
            return None
        read_back[job] = ids
    return read_back


def _cross_check_sample(list_name: str, read_back: Mapping[Key, Collection[str]], declared: DeclaredLists | None,
                        key_of: Mapping[str, Key]) -> list[Key]:
    """The jobs to read both ways: first those whose reverse read differs from the configuration
    (a wrong read there becomes a write), then those with something assigned, the rest in a
    fixed pseudo-random order (a checksum of the key), so every run checks the same jobs."""
    def rank(job: Key) -> tuple[bool, bool, int]:
        ids = read_back[job]
        wanted = (declared or {}).get(job, {}).get(list_name)
        differs = wanted is not None and (len(ids) != len(wanted) or not wanted.issuperset(map(key_of.get, ids)))
        return not differs, not (ids or wanted), zlib.crc32("\x00".join(job).encode())

    return heapq.nsmallest(CROSS_CHECK_JOBS, read_back, key=rank)


def run_bounded(function: Callable[[T], R], items: Sequence[T], workers: int,
                stop: threading.Event | None = None) -> list[R]:
    """function over items, `workers` at a time, results in order. Each worker takes the next
    item from a shared iterator: no Future per item (a 50k-job account has 75k lists to read).

    Ctrl-C (KeyboardInterrupt in this thread) sets `stop`: workers start nothing new, the calls
    in flight finish, then the interrupt goes on up."""
    stop = stop or threading.Event()
    results: list[Any] = [None] * len(items)
    queue = iter(enumerate(items))
    lock = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            with lock:
                entry = next(queue, None)
            if entry is None:
                return
            results[entry[0]] = function(entry[1])

    count = max(1, min(workers, len(items)))
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work) for _ in range(count)]
        try:
            for future in futures:
                while True:
                    try:
                        future.result(timeout=0.2)  # a short wait keeps the main thread open to Ctrl-C
                        break
                    except FuturesTimeout:
                        continue
        except BaseException:
            stop.set()
            raise
    return results


def fetch_touched(client: ClickTimeClient, plan: Plan) -> LiveState:
    """Read only what a saved plan touches: each existing object by ID, each object it would
    create by its natural key, and each assignment list it edits. IDs come from the plan."""
    ids = plan.ids
    state = LiveState(company=client.company(), me=client.me())
    objects = {(c.kind, c.key) for c in plan.changes if c.target is None}
    lists = {(c.key, c.list_name) for c in plan.changes if c.target is not None and c.list_name}
    key_by_id: dict[Kind, dict[str, Key]] = {kind: {} for kind in KINDS}
    for (kind, key), known in ids.items():
        key_by_id[kind][known] = key

    def read(ref: tuple[Kind, Key]) -> dict[str, Any] | None:
        kind, key = ref
        known = ids.get((kind, key))
        if known:
            try:
                return client.get_record(kind.collection, known)
            except ApiError as error:
                if error.status == 404:
                    return None
                raise
        clients: dict[str, str] = {}
        if kind is Kind.JOB:
            parent = state.objects[Kind.CLIENT].get(key[:1])  # read first: it may be new since the plan
            client_id = parent.id if parent else ids.get((Kind.CLIENT, key[:1]))
            if not client_id:
                return None  # its client does not exist yet, so neither can the job
            lookup = [("ClientID", client_id), ("JobNumber", key[1])]
            clients[client_id] = key[0]
        else:
            lookup = [(NATURAL_KEYS[kind.collection][0], key[0])]
        # The filter's case rules are undocumented: keep only the record whose key is exactly this one.
        found = [r for r in client.list_all(kind.collection, lookup) if natural_key(kind, r, clients) == key]
        return found[0] if found else None

    with ThreadPoolExecutor(max_workers=client.concurrency) as pool:
        # Clients (and the rest) before jobs: a job is looked up under its client's live ID.
        parents = sorted(ref for ref in objects if ref[0] is not Kind.JOB)
        children = sorted(ref for ref in objects if ref[0] is Kind.JOB)
        for batch in (parents, children):
            for (kind, key), record in zip(batch, pool.map(read, batch), strict=True):
                if record is not None:
                    state.objects[kind][key] = LiveObject(kind, key, record["ID"], record,
                                                          live_fields(kind, record, key_by_id,
                                                                      supported_fields(kind, state.company)))
        wanted = sorted(lists)
        job_ids = [ids.get((Kind.JOB, job)) for job, _ in wanted]
        answers = pool.map(lambda item: client.assigned_ids(item[0], ASSIGNMENTS[item[1]][1]) if item[0] else None,
                           [(job_id, name) for job_id, (_, name) in zip(job_ids, wanted, strict=True)])
        for (job, name), answer in zip(wanted, answers, strict=True):
            if answer is not None:
                state.assignment_ids.setdefault(job, {})[name] = frozenset(answer)
                target_kind = ASSIGNMENTS[name][0]
                state.assignments.setdefault(job, {})[name] = keys_of(answer, target_kind, key_by_id[target_kind])
    return state
