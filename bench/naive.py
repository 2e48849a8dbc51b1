"""The approach a user might script by hand, measured against the same server for comparison.

- refresh: one GET per object by its ID (as a state file would remember them: GET /Clients/{id},
  /Tasks/{id}, /Users/{id}, /Jobs/{id}) plus one GET per job assignment list, one at a time;
- apply: one POST per object and per assignment, one at a time, waiting out 429s.

Both keep one HTTP connection alive (httpx), so they are naive about strategy, not about HTTP.
Neither loads or diffs a configuration, so their wall time is a lower bound for such a script.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from synth import KIND_ORDER, Account, api_body

from reconciler.model import Key, Kind, ref_key

IdMap = dict[Kind, dict[Key, str]]


@dataclass
class NaiveRun:
    calls: int  # requests the whole run makes
    timed_calls: int  # requests actually sent and timed
    timed_wall: float  # seconds those took

    @property
    def per_call(self) -> float:
        return self.timed_wall / self.timed_calls if self.timed_calls else 0.0

    @property
    def wall(self) -> float:
        """Seconds for the whole run: measured when every call was sent, else extrapolated."""
        return self.per_call * self.calls

    @property
    def extrapolated(self) -> bool:
        return self.timed_calls < self.calls


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30.0,
                        headers={"Authorization": f"Token {token}", "Accept": "application/json"})


def refresh_paths(account: Account, ids: IdMap) -> list[str]:
    paths = [f"/{kind.collection}/{ids[kind][obj.key]}" for kind in KIND_ORDER for obj in account.objects(kind)]
    for job in account.jobs:
        paths += [f"/Jobs/{ids[Kind.JOB][job.key]}/{sub}" for sub in ("Tasks", "Users")]
    return paths


def evenly(items: list[str], count: int) -> list[str]:
    """`count` items spread evenly over the list (every kind of request is represented)."""
    if count >= len(items):
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def naive_refresh(base_url: str, token: str, account: Account, ids: IdMap, sample: int) -> NaiveRun:
    """Refresh every object one GET at a time; time at most `sample` of the calls."""
    paths = refresh_paths(account, ids)
    timed = evenly(paths, sample)
    with _client(base_url, token) as http:
        start = time.perf_counter()
        for path in timed:
            http.get(path).raise_for_status()
        wall = time.perf_counter() - start
    return NaiveRun(len(paths), len(timed), wall)


def _post(http: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    while True:
        answer = http.post(path, json=body)
        if answer.status_code == 429:
            time.sleep(float(answer.headers.get("Retry-After") or 1))
            continue
        answer.raise_for_status()
        return answer.json()["data"]


def naive_apply(base_url: str, token: str, account: Account) -> NaiveRun:
    """Create every object, then every assignment, one POST at a time, into an empty account."""
    ids: IdMap = {kind: {} for kind in KIND_ORDER}
    calls = 0
    with _client(base_url, token) as http:
        start = time.perf_counter()
        for kind in KIND_ORDER:
            for obj in account.objects(kind):
                ids[kind][obj.key] = _post(http, f"/{kind.collection}", api_body(obj, ids))["ID"]
                calls += 1
        for job in account.jobs:
            job_id = ids[Kind.JOB][job.key]
            for code in job.assignments["tasks"]:
                _post(http, f"/Jobs/{job_id}/Tasks", {"TaskID": ids[Kind.TASK][(code,)]})
                calls += 1
            for email in job.assignments["users"]:
                _post(http, f"/Jobs/{job_id}/Users", {"UserID": ids[Kind.USER][ref_key(Kind.USER, email)]})
                calls += 1
        wall = time.perf_counter() - start
    return NaiveRun(calls, calls, wall)
