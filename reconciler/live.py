"""Fetch the live account through the ClickTime client into a LiveState keyed by natural key."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any, TypeVar

from reconciler.clicktime.client import NATURAL_KEYS, ClickTimeClient
from reconciler.errors import ApiError, BackendError
from reconciler.model import (
    ASSIGNMENTS,
    FIELDS,
    KINDS,
    Key,
    Kind,
    LiveObject,
    LiveState,
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
        return (client, str(record["JobNumber"])) if client else None
    value = str(record[fields[0]])
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


def fetch_live(client: ClickTimeClient, assignments_for: Mapping[Key, Iterable[str]] | None = None,
               all_assignments: bool = False, kinds: Iterable[Kind] = CORE_KINDS,
               custom_field_kinds: Iterable[Kind] = ()) -> LiveState:
    """Read the account: the company first (its settings say what the account can hold), then
    every record of `kinds` it can hold, the custom-field definitions of `custom_field_kinds`, and
    assignment lists only for the jobs asked for."""
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
    read_assignments(client, state, wanted)
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


def read_assignments(client: ClickTimeClient, state: LiveState, wanted: Mapping[Key, Iterable[str]]) -> None:
    key_by_id = {kind: {obj.id: key for key, obj in state.objects[kind].items()} for kind in KINDS}
    reads = [(job_key, list_name) for job_key, lists in sorted(wanted.items()) for list_name in sorted(lists)]

    def read(item: tuple[Key, str]) -> list[str]:
        job_key, list_name = item
        return client.assigned_ids(state.objects[Kind.JOB][job_key].id, ASSIGNMENTS[list_name][1])

    for (job_key, list_name), ids in zip(reads, run_bounded(read, reads, client.concurrency), strict=True):
        target_kind = ASSIGNMENTS[list_name][0]
        keys = frozenset(key_by_id[target_kind].get(i, (f"<unknown {target_kind.value} {i}>",)) for i in ids)
        state.assignments.setdefault(job_key, {})[list_name] = keys
        state.assignment_ids.setdefault(job_key, {})[list_name] = frozenset(ids)


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
    return state
