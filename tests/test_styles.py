"""The stand-ins for the real service's variants: response styles of the emulator (in-process and over
HTTP), and the output shapes and knobs of the fake Membrane CLI and API. These test the stand-ins
themselves, not whether the tool copes with them."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fakes import FAKE_CLI, REQUEST_SHAPES, FakeMembrane
from fakes.membrane_api_server import FakeMembraneApi

from reconciler.clicktime.membrane import assumptions as MA
from reconciler.clicktime.transport import Request, Response
from reconciler.errors import ReconcilerError
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import from_dict
from reconciler.sandbox.server import EmulatorServer, Knobs
from reconciler.sandbox.styles import DEFAULT_STYLE, STYLES, ResponseStyle, apply_style, parse_styles
from reconciler.sandbox.transport import SANDBOX_BASE_URL, SandboxTransport

BOTH = (("IsActive", "true"), ("IsActive", "false"))
COMPANY = {"BillableSetting": "Job", "JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob",
           "EnableProjectApprovals": False}


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Emulator]:
    """A small account: a client, a job with a start date, no end date and custom fields, an inactive
    task, and 60 more tasks (69 in all with the nine defaults)."""
    emulator = Emulator.open(str(tmp_path / "account.sqlite3"))
    emulator.reset(from_dict({"name": "styles", "company": COMPANY, "custom_fields": {"Jobs": [
        {"name": "Budget", "data_type": "Number"}, {"name": "Kickoff", "data_type": "Date"},
        {"name": "Hours", "data_type": "Number"}]}}))
    client = post(emulator, "/Clients", {"Name": "Acme Corporation", "ShortName": "ACME"})
    post(emulator, "/Jobs", {"Name": "Website", "JobNumber": "WEB-1", "ClientID": client["ID"],
                             "StartDate": "2025-02-03", "CustomFields": {"Budget": 1500.5, "Kickoff": "2025-01-06",
                                                                         "Hours": 40}})
    post(emulator, "/Tasks", {"Name": "Retired", "TaskCode": "OLD", "IsActive": False})
    for n in range(60):
        post(emulator, "/Tasks", {"Name": f"Task {n:02}", "TaskCode": f"T{n:02}"})
    yield emulator
    emulator.close()


def post(emulator: Emulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = emulator.handle(Request("POST", path, body=body))
    assert response.status == 201, response.body
    return response.body["data"]  # type: ignore[no-any-return]


def pair(account: Emulator, style: str, request: Request) -> tuple[Response, Response]:
    """The same request answered in the default style and in `style`."""
    return SandboxTransport(account).send(request), SandboxTransport(account, parse_styles(style)).send(request)


def job_id(account: Emulator) -> str:
    return str(account.handle(Request("GET", "/Jobs")).body["data"][0]["ID"])


# -- parsing --------------------------------------------------------------------------------------
def test_parse_styles() -> None:
    assert parse_styles("") == parse_styles("default") == DEFAULT_STYLE
    assert DEFAULT_STYLE.is_default and str(DEFAULT_STYLE) == "default"
    both = parse_styles(" omit-nulls , datetimes,")
    assert both == ResponseStyle(omit_nulls=True, datetimes=True) and both.names == ("omit-nulls", "datetimes")
    assert parse_styles(",".join(STYLES)).names == tuple(STYLES)
    with pytest.raises(ReconcilerError) as raised:
        parse_styles("omit-nulls,bogus,nulls")
    assert "bogus, nulls" in str(raised.value) and all(name in str(raised.value) for name in STYLES)


def test_the_default_style_copies_nothing(account: Emulator) -> None:
    request = Request("GET", "/Tasks")
    response = account.handle(request)
    assert apply_style(DEFAULT_STYLE, request, response, SANDBOX_BASE_URL) is response
    assert SandboxTransport(account).send(request) == response


# -- each style, in-process -------------------------------------------------------------------------
def test_omit_nulls(account: Emulator) -> None:
    plain, styled = pair(account, "omit-nulls", Request("GET", f"/Jobs/{job_id(account)}"))
    assert {k for k, v in plain.body["data"].items() if v is None} >= {"EndDate", "ProjectManagerID"}
    assert styled.body["data"] == {k: v for k, v in plain.body["data"].items() if v is not None}
    plain, styled = pair(account, "omit-nulls", Request("GET", "/Jobs"))
    assert styled.body["data"] == [{k: v for k, v in r.items() if v is not None} for r in plain.body["data"]]
    assert styled.body["page"] == plain.body["page"]
    error = Request("POST", "/Clients", body={"Name": "No short name"})
    plain, styled = pair(account, "omit-nulls", error)
    assert (styled.status, styled.body) == (plain.status, plain.body) == (400, plain.body)  # not a record


def test_datetimes(account: Emulator) -> None:
    plain, styled = pair(account, "datetimes", Request("GET", f"/Jobs/{job_id(account)}"))
    expected = {**plain.body["data"], "StartDate": "2025-02-03T00:00:00",
                "CustomFields": {**plain.body["data"]["CustomFields"], "Kickoff": "2025-01-06T00:00:00"}}
    assert styled.body["data"] == expected
    plain, styled = pair(account, "datetimes", Request("GET", "/Clients"))
    assert styled.body == plain.body  # CreatedDate already carries a time


def test_conflict_409(account: Emulator) -> None:
    duplicate = Request("POST", "/Clients", body={"Name": "Acme again", "ShortName": "ACME"})
    plain, styled = pair(account, "conflict-409", duplicate)
    assert (plain.status, styled.status) == (400, 409) and styled.body == plain.body
    assert SandboxTransport(account).send(duplicate).status == 400  # the emulator itself is left as it was
    job, task = job_id(account), account.handle(Request("GET", "/Tasks")).body["data"][0]["ID"]
    assign = Request("POST", f"/Jobs/{job}/Tasks", body={"TaskID": task})
    assert account.handle(assign).status == 201
    plain, styled = pair(account, "conflict-409", assign)
    assert (plain.status, styled.status) == (400, 409) and "already assigned" in styled.body["errors"][0]["Message"]
    missing = Request("POST", "/Clients", body={"Name": "No short name"})
    plain, styled = pair(account, "conflict-409", missing)
    assert plain.status == styled.status == 400


def test_small_pages(account: Emulator) -> None:
    plain, styled = pair(account, "small-pages", Request("GET", "/Tasks", (("limit", "1000"),)))
    assert (plain.body["page"]["limit"], len(plain.body["data"])) == (1000, 69)
    assert styled.body["data"] == plain.body["data"][:50]
    assert styled.body["page"]["limit"] == 50 and styled.body["page"]["count"] == 69
    assert styled.body["page"]["links"]["next"] == "/Tasks?limit=50&offset=50"
    rest = SandboxTransport(account, parse_styles("small-pages")).send(
        Request("GET", "/Tasks", (("limit", "50"), ("offset", "50"))))
    assert rest.body["data"] == plain.body["data"][50:] and rest.body["page"]["links"]["next"] is None
    plain, styled = pair(account, "small-pages", Request("GET", "/Tasks", (("limit", "20"),)))
    assert styled == plain


def test_absolute_links(account: Emulator) -> None:
    query = (*BOTH, ("Name", "Task 01"), ("limit", "1"), ("offset", "0"))
    plain, styled = pair(account, "absolute-links", Request("GET", "/Tasks", (*BOTH, ("limit", "5"), ("offset", "5"))))
    assert styled.body["data"] == plain.body["data"]
    links = styled.body["page"]["links"]
    assert {k: v for k, v in styled.body["page"].items() if k != "links"} == \
        {k: v for k, v in plain.body["page"].items() if k != "links"}
    for name, offset in (("self", "5"), ("previous", "0"), ("next", "10"), ("first", "0")):
        url = urlsplit(links[name])
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{SANDBOX_BASE_URL}/Tasks"
        assert parse_qsl(url.query) == [*BOTH, ("limit", "5"), ("offset", offset)]
    one = SandboxTransport(account, parse_styles("absolute-links")).send(Request("GET", "/Tasks", query))
    assert one.body["page"]["links"]["next"] is None and one.body["page"]["links"]["previous"] is None
    assert parse_qsl(urlsplit(one.body["page"]["links"]["self"]).query) == list(query)


def test_decimals_as_strings(account: Emulator) -> None:
    plain, styled = pair(account, "decimals-as-strings", Request("GET", f"/Jobs/{job_id(account)}"))
    expected = {**plain.body["data"], "CustomFields": {**plain.body["data"]["CustomFields"],
                                                       "Budget": "1500.5", "Hours": "40"}}
    assert styled.body["data"] == expected and styled.body["data"]["IsActive"] is True


def test_inactive_by_default(account: Emulator) -> None:
    plain, styled = pair(account, "inactive-by-default", Request("GET", "/Tasks"))
    assert "OLD" not in [t["TaskCode"] for t in plain.body["data"]]
    assert "OLD" in [t["TaskCode"] for t in styled.body["data"]]
    assert styled.body["page"]["count"] == plain.body["page"]["count"] + 1 == 70
    only_active = Request("GET", "/Tasks", (("IsActive", "true"),))
    assert pair(account, "inactive-by-default", only_active)[1] == account.handle(only_active)
    one = Request("GET", f"/Jobs/{job_id(account)}")
    assert pair(account, "inactive-by-default", one)[1] == account.handle(one)


def test_last_query_wins(account: Emulator) -> None:
    plain, styled = pair(account, "last-query-wins", Request("GET", "/Tasks", BOTH))
    assert plain.body["page"]["count"] == 70
    assert [t["TaskCode"] for t in styled.body["data"]] == ["OLD"]
    single = Request("GET", "/Tasks", (("IsActive", "false"),))
    assert pair(account, "last-query-wins", single)[1] == account.handle(single)


# -- each style, over HTTP ----------------------------------------------------------------------------
def _over_http(account: Emulator, style: str, method: str, path: str, query: list[tuple[str, str]],
               body: Any = None) -> tuple[httpx.Response, str]:
    server = EmulatorServer(account, knobs=Knobs(token="t", style=parse_styles(style))).start()
    try:
        with httpx.Client(headers={"Authorization": "Token t"}) as client:
            return client.request(method, server.url + path, params=query, json=body), server.url
    finally:
        server.stop()


def _check_omit_nulls(answer: httpx.Response, base: str) -> None:
    assert answer.json()["data"] and all(None not in r.values() for r in answer.json()["data"])


def _check_datetimes(answer: httpx.Response, base: str) -> None:
    assert answer.json()["data"][0]["StartDate"] == "2025-02-03T00:00:00"


def _check_conflict(answer: httpx.Response, base: str) -> None:
    assert answer.status_code == 409 and "must be unique" in answer.json()["errors"][0]["Message"]


def _check_small_pages(answer: httpx.Response, base: str) -> None:
    assert len(answer.json()["data"]) == answer.json()["page"]["limit"] == 50


def _check_absolute_links(answer: httpx.Response, base: str) -> None:
    assert answer.json()["page"]["links"]["next"] == f"{base}/Tasks?IsActive=true&IsActive=false&limit=5&offset=5"


def _check_decimals(answer: httpx.Response, base: str) -> None:
    assert answer.json()["data"][0]["CustomFields"]["Budget"] == "1500.5"


def _check_inactive(answer: httpx.Response, base: str) -> None:
    assert answer.json()["page"]["count"] == 70


def _check_last_query(answer: httpx.Response, base: str) -> None:
    assert [t["TaskCode"] for t in answer.json()["data"]] == ["OLD"]


@pytest.mark.parametrize(("style", "method", "path", "query", "body", "check"), [
    ("omit-nulls", "GET", "/Jobs", [], None, _check_omit_nulls),
    ("datetimes", "GET", "/Jobs", [], None, _check_datetimes),
    ("conflict-409", "POST", "/Clients", [], {"Name": "Twice", "ShortName": "ACME"}, _check_conflict),
    ("small-pages", "GET", "/Tasks", [("limit", "1000")], None, _check_small_pages),
    ("absolute-links", "GET", "/Tasks", [*BOTH, ("limit", "5")], None, _check_absolute_links),
    ("decimals-as-strings", "GET", "/Jobs", [], None, _check_decimals),
    ("inactive-by-default", "GET", "/Tasks", [], None, _check_inactive),
    ("last-query-wins", "GET", "/Tasks", list(BOTH), None, _check_last_query),
])
def test_each_style_over_http(account: Emulator, style: str, method: str, path: str, query: list[tuple[str, str]],
                              body: Any, check: Callable[[httpx.Response, str], None]) -> None:
    answer, base = _over_http(account, style, method, path, query, body)
    check(answer, base)


# -- the fake membrane CLI ------------------------------------------------------------------------------
@pytest.fixture
def fake(tmp_path: Path, account: Emulator) -> Iterator[FakeMembrane]:
    with FakeMembrane(tmp_path / "membrane", Path(account.store.path)) as fake:
        yield fake


def _cli(fake: FakeMembrane, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **fake.env()}
    return subprocess.run([str(FAKE_CLI), *args], env=env, capture_output=True, text=True, timeout=60)


def _run_all(fake: FakeMembrane, argvs: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Several invocations at once: each is a Python start-up."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda argv: _cli(fake, *argv), argvs))


CONN = "con_clicktime_1"
GET_CLIENTS = ["request", CONN, "/Clients", "--json"]
REFUSED = ["request", CONN, "/Clients", "-X", "POST", "--json", "-d", '{"Name": "No short name"}']


def test_the_fake_cli_prints_every_shape(tmp_path: Path, account: Emulator) -> None:
    distinct_errors = ("bare", "wrapped", "full", "banner")  # the other shapes print errors as bare does
    with ExitStack() as servers:
        fakes = {name: servers.enter_context(FakeMembrane(tmp_path / name, Path(account.store.path)))
                 for name in REQUEST_SHAPES}
        for name, fake in fakes.items():
            fake.request_shape(name, pretty=False)
        with ThreadPoolExecutor(8) as pool:
            runs = {(name, argv[4] if len(argv) > 4 else "GET"): pool.submit(_cli, fake, *argv)
                    for name, fake in fakes.items()
                    for argv in ((GET_CLIENTS, REFUSED) if name in distinct_errors else (GET_CLIENTS,))}
        results = {key: future.result() for key, future in runs.items()}
    clients = account.handle(Request("GET", "/Clients")).body
    refusal = account.handle(Request("POST", "/Clients", body={"Name": "No short name"}))
    headers = {"Content-Type": "application/json"}

    ok, bad = results["bare", "GET"], results["bare", "POST"]
    assert (ok.returncode, json.loads(ok.stdout)) == (0, clients)
    assert bad.returncode == 1 and json.loads(bad.stderr)["data"]["response"]["status"] == 400
    assert json.loads(results["output", "GET"].stdout) == {"output": clients}
    for name, key in (("wrapped", "data"), ("full", "body")):
        ok, bad = results[name, "GET"], results[name, "POST"]
        assert (ok.returncode, json.loads(ok.stdout)) == (0, {"status": 200, "headers": headers, key: clients})
        assert (bad.returncode, json.loads(bad.stdout)) == (0, {"status": 400, "headers": headers, key: refusal.body})
    ok, bad = results["banner", "GET"], results["banner", "POST"]
    first, rest = ok.stdout.split("\n", 1)
    assert first == MA.BANNER_EXAMPLE and json.loads(rest) == clients and ok.returncode == 0
    assert bad.stdout.strip() == MA.BANNER_EXAMPLE and bad.returncode == 1
    ok = results["garbage", "GET"]
    assert (ok.returncode, json.loads(ok.stdout)) == (0, {"result": clients})
    ok = results["garbage-text", "GET"]
    assert ok.returncode == 0 and ok.stdout.startswith("200 OK: 1 record(s)")
    with pytest.raises(ValueError):
        ok.stdout and json.loads(ok.stdout)


def test_the_fake_cli_exit_code_of_a_full_error(fake: FakeMembrane) -> None:
    fake.request_shape("full", error_exit=1)
    bad = _cli(fake, *REFUSED)
    assert bad.returncode == 1 and json.loads(bad.stdout)["status"] == 400
    with pytest.raises(ValueError):
        fake.request_shape("nonsense")


def test_the_fake_cli_folds_repeated_query_keys_like_a_string_record(fake: FakeMembrane) -> None:
    flags = ["request", CONN, "/Tasks", "--query", "IsActive=true", "--query", "IsActive=false", "--json"]
    inline = ["request", CONN, "/Tasks?IsActive=true&IsActive=false", "--json"]
    (before,) = _run_all(fake, [flags])
    fake.fold_repeated_query()
    after = _run_all(fake, [flags, inline])
    assert json.loads(before.stdout)["page"]["count"] == 70
    folded, verbatim = (json.loads(r.stdout) for r in after)
    assert [t["TaskCode"] for t in folded["data"]] == ["OLD"]  # the last value won, silently
    assert verbatim["page"]["count"] == 70  # a query inside the path travels verbatim


def test_the_fake_cli_base_url_with_or_without_v2(fake: FakeMembrane) -> None:
    short, versioned = ["request", CONN, "/Me", "--json"], ["request", CONN, "/v2/Me", "--json"]
    works, missing = _run_all(fake, [short, versioned])
    assert works.returncode == 0 and json.loads(works.stdout)["data"]["SecurityLevel"] == "ADMIN"
    assert missing.returncode == 1 and json.loads(missing.stderr)["data"]["response"]["status"] == 404
    fake.set(base_ends_in_v2=False)
    missing, works = _run_all(fake, [short, versioned])
    assert works.returncode == 0 and json.loads(works.stdout)["data"]["SecurityLevel"] == "ADMIN"
    assert json.loads(missing.stderr)["data"]["response"]["data"]["errors"][0]["Message"].startswith(
        "No HTTP resource was found")


# -- the fake Membrane API ------------------------------------------------------------------------------
@pytest.fixture
def api(account: Emulator) -> Iterator[FakeMembraneApi]:
    server = FakeMembraneApi(account, token="tok").start()
    yield server
    server.stop()


def _proxy(api: FakeMembraneApi, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """Raw status, headers and bytes: httpx would try to decode a body marked gzip."""
    url = urlsplit(api.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request(method, f"/connections/{CONN}/proxy{path}", headers={"Authorization": "Bearer tok"})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_the_fake_api_knobs(api: FakeMembraneApi, account: Emulator) -> None:
    status, headers, raw = _proxy(api, "GET", "/Me")
    assert status == 200 and json.loads(raw)["data"]["SecurityLevel"] == "ADMIN"
    assert "content-encoding" not in headers
    assert _proxy(api, "GET", "/v2/Me")[0] == 404

    api.gzip_header = True
    status, headers, raw = _proxy(api, "GET", "/Me")
    assert headers["content-encoding"] == "gzip" and json.loads(raw)["data"]["SecurityLevel"] == "ADMIN"
    api.gzip_header = False

    api.empty_bodies = True
    status, _, raw = _proxy(api, "GET", "/Me")
    assert (status, json.loads(raw)) == (200, {})
    api.empty_bodies = False

    api.base_ends_in_v2 = False
    assert _proxy(api, "GET", "/v2/Me")[0] == 200
    status, _, raw = _proxy(api, "GET", "/Me")
    assert status == 404 and "No HTTP resource" in json.loads(raw)["errors"][0]["Message"]
