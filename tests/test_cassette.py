"""Cassettes: record through any transport, write redacted, load, replay in-process and over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from reconciler.clicktime.cassette import (
    CASSETTE_FILE,
    Cassette,
    CassetteError,
    Exchange,
    RecordingTransport,
    ReplayTransport,
    load_cassette,
    write_cassette,
)
from reconciler.clicktime.transport import Request, Response
from reconciler.errors import ReconcilerError
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.profiles import from_dict
from reconciler.sandbox.server import replay_server
from reconciler.sandbox.transport import SandboxTransport

TOKEN = "ct-0123456789abcdef-token"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InRlbmFudCJ9.c2lnbmF0dXJlLXZhbHVl"
NAMES = ("Acme Corporation", "ACME", "acme", "Globex", "Jane Doe", "jane@example.com", "Jane@Example.com",
         "Website Redesign", "WEB-001", "Launch plan for Acme", "DEV", "Development", "E-1234")
BOTH = (("IsActive", "true"), ("IsActive", "false"))
COMPANY = {"BillableSetting": "Job", "JobRestrictionMethod": "byperson", "TaskRestrictionMethod": "byjob",
           "EnableProjectApprovals": False}


class _Echo:
    """An upstream that echoes credentials in its answers, as a misconfigured proxy might."""

    def send(self, request: Request) -> Response:
        return Response(401, {"errors": [{"Message": f"Token {TOKEN} rejected; expected Bearer {JWT}"}]},
                        {"Set-Cookie": f"sid={TOKEN}", "Authorization": f"Token {TOKEN}", "X-Auth-Token": TOKEN,
                         "Content-Encoding": "gzip", "Retry-After": "3", "X-Trace": f"token={TOKEN}"})

    def close(self) -> None:
        pass


class _Keep(SandboxTransport):
    def close(self) -> None:  # the account outlives the transport
        pass


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Emulator]:
    emulator = Emulator.open(str(tmp_path / "account.sqlite3"))
    emulator.reset(from_dict({"name": "cassette", "company": COMPANY,
                              "custom_fields": {"Jobs": [{"name": "Budget", "data_type": "Number"}], "Clients": [
                                  {"name": "industry", "display_name": "Industry", "data_type": "Pulldown",
                                   "pulldown_values": ["Healthcare", "Retail"]}]}}))
    yield emulator
    emulator.close()


def _send(transport: Any, method: str, path: str, query: tuple[tuple[str, str], ...] = (), body: Any = None) -> Any:
    return transport.send(Request(method, path, query, body))


def _record(account: Emulator) -> tuple[RecordingTransport, dict[str, Any]]:
    """An apply-like session: creates, a refused duplicate, filtered lookups, lists and an echo."""
    recorder = RecordingTransport(_Keep(account), secrets=[TOKEN])
    acme = _send(recorder, "POST", "/Clients", body={"Name": "Acme Corporation", "ShortName": "ACME",
                                                     "Notes": "Launch plan for Acme"}).body["data"]
    _send(recorder, "POST", "/Clients", body={"Name": "Globex", "ShortName": "acme"})
    _send(recorder, "POST", "/Clients", body={"Name": "Acme Corporation", "ShortName": "ACME"})  # refused: ShortName
    jane = _send(recorder, "POST", "/Users", body={"Name": "Jane Doe", "Email": "jane@example.com",
                                                   "EmployeeNumber": "E-1234", "StartDate": "2025-02-03"}).body["data"]
    _send(recorder, "POST", "/Users", body={"Name": "Jane Doe", "Email": "Jane@Example.com"})  # refused: Email
    job = _send(recorder, "POST", "/Jobs", body={"Name": "Website Redesign", "JobNumber": "WEB-001",
                                                 "ClientID": acme["ID"], "ProjectManagerID": jane["ID"],
                                                 "CustomFields": {"Budget": 1500.5}}).body["data"]
    task = _send(recorder, "POST", "/Tasks", body={"Name": "Development", "TaskCode": "DEV"}).body["data"]
    _send(recorder, "POST", f"/Jobs/{job['ID']}/Tasks", body={"TaskID": task["ID"]})
    _send(recorder, "GET", "/Users", (("Email", "jane@example.com"),))
    _send(recorder, "GET", "/Clients", (*BOTH, ("limit", "1"), ("offset", "0")))
    _send(recorder, "GET", "/Jobs", (*BOTH, ("limit", "1000"), ("offset", "0")))
    _send(recorder, "GET", f"/Jobs/{job['ID']}/Tasks")
    return recorder, {"acme": acme, "jane": jane, "job": job, "task": task}


def _entries(directory: Path) -> list[dict[str, Any]]:
    return json.loads((directory / CASSETTE_FILE).read_text(encoding="utf-8"))["exchanges"]  # type: ignore[no-any-return]


def test_round_trip_keeps_structure_and_leaks_nothing(account: Emulator, tmp_path: Path) -> None:
    recorder, made = _record(account)
    echo = RecordingTransport(_Echo(), secrets=[TOKEN])
    echo.send(Request("GET", "/Me"))
    target = write_cassette(tmp_path / "cassette", [*recorder.exchanges, *echo.exchanges], "clicktime",
                            secrets=[TOKEN])
    text = target.read_text(encoding="utf-8")
    for leaked in (TOKEN, JWT, "Set-Cookie", "Authorization", "X-Auth-Token", "Content-Encoding", *NAMES):
        assert leaked not in text, leaked
    document = json.loads(text)
    assert document["format"] == 1 and document["backend"] == "clicktime" and document["recorded"].endswith("Z")
    entries = document["exchanges"]
    assert len(entries) == len(recorder.exchanges) + 1
    acme, globex, refused = (e["response"] for e in entries[:3])
    assert acme["status"] == 201 and refused["status"] == 400
    # IDs, dates, numbers and booleans kept; names and keys masked, consistently and case-aware
    assert acme["body"]["data"]["ID"] == made["acme"]["ID"] and acme["body"]["data"]["IsActive"] is True
    assert acme["body"]["data"]["ShortName"] == "CLIENT1" and globex["body"]["data"]["ShortName"] == "client1"
    assert acme["body"]["data"]["Name"] == entries[2]["request"]["body"]["Name"] == "Name 1"
    assert acme["body"]["data"]["Notes"] == "Notes 1"
    assert refused["body"]["errors"][0]["Field"] == "ShortName"
    user, _, job = (entries[i]["response"]["body"]["data"] for i in (3, 4, 5))
    assert user["Email"] == "user1@example.invalid" and user["EmployeeNumber"] == "EMP1"
    assert user["StartDate"] == "2025-02-03" and entries[4]["request"]["body"]["Email"] == "User1@example.invalid"
    assert job["JobNumber"] == "JOB1" and job["ClientID"] == made["acme"]["ID"]
    assert job["CustomFields"] == {"Budget": 1500.5} and job["ProjectManagerID"] == made["jane"]["ID"]
    lookup = entries[8]
    assert lookup["request"]["query"] == [["Email", "user1@example.invalid"]]
    assert lookup["response"]["body"]["data"][0]["Email"] == "user1@example.invalid"
    clients = entries[9]
    assert clients["request"]["query"] == [["IsActive", "true"], ["IsActive", "false"], ["limit", "1"],
                                           ["offset", "0"]]
    assert clients["response"]["body"]["page"]["links"]["next"] == "/Clients?limit=1&offset=1"
    assert entries[11]["response"]["body"]["data"] == [made["task"]["ID"]]
    echoed = entries[-1]["response"]
    assert echoed["headers"] == {"Retry-After": "3", "X-Trace": "token=<secret>"}
    assert echoed["body"]["errors"][0]["Message"] == "Token <secret> rejected; expected Bearer <jwt>"


def test_the_same_value_gets_the_same_mask_in_messages(account: Emulator, tmp_path: Path) -> None:
    account.handle(Request("POST", "/Users", body={"Name": "Jane Doe", "Email": "jane@example.com"}))
    exchanges = [
        Exchange(Request("GET", "/Users", (("Email", "jane@example.com"),)),
                 account.handle(Request("GET", "/Users", (("Email", "jane@example.com"),)))),
        Exchange(Request("POST", "/Users", body={"Name": "X"}),
                 Response(400, {"errors": [{"Message": "'jane@example.com' and 'bob@example.org' are taken"}]})),
    ]
    write_cassette(tmp_path / "c", exchanges, "clicktime")
    message = _entries(tmp_path / "c")[1]["response"]["body"]["errors"][0]["Message"]
    assert message == "'user1@example.invalid' and 'user2@example.invalid' are taken"


def test_custom_field_definitions_keep_their_names_and_share_value_masks(account: Emulator, tmp_path: Path) -> None:
    recorder = RecordingTransport(_Keep(account))
    _send(recorder, "POST", "/Clients", body={"Name": "Clinic", "ShortName": "CLI",
                                              "CustomFields": {"industry": "Healthcare"}})
    _send(recorder, "GET", "/Clients/CustomFieldDefinitions")
    _send(recorder, "GET", "/Company")
    write_cassette(tmp_path / "c", recorder.exchanges, "sandbox")
    client, definitions, company = (e["response"]["body"]["data"] for e in _entries(tmp_path / "c"))
    assert client["CustomFields"] == {"industry": "CustomField 1"}
    (industry,) = definitions
    assert (industry["Name"], industry["DisplayName"], industry["DataType"]) == ("industry", "Industry", "Pulldown")
    assert industry["PulldownValues"] == ["CustomField 1", "CustomField 2"]
    assert company["Name"] == "Name 2"  # the company's name is masked, its settings are not
    assert {k: company[k] for k in COMPANY} == COMPANY


def test_replay_answers_recorded_requests_in_order_and_404_otherwise(account: Emulator, tmp_path: Path) -> None:
    recorder, _ = _record(account)
    write_cassette(tmp_path / "c", recorder.exchanges, "sandbox", secrets=[TOKEN])
    cassette = load_cassette(tmp_path / "c")
    assert isinstance(cassette, Cassette) and cassette.backend == "sandbox"
    replay = ReplayTransport(cassette)
    recorded = _entries(tmp_path / "c")
    for entry in recorded[:3]:
        request = entry["request"]
        answer = replay.send(Request(request["method"], request["path"], tuple(map(tuple, request["query"])),
                                     request["body"]))
        assert (answer.status, answer.body) == (entry["response"]["status"], entry["response"]["body"])
    # the third POST /Clients has no recording of its own: the last one answers again
    assert _send(replay, "POST", "/Clients").status == 400
    shuffled = (("offset", "0"), ("IsActive", "false"), ("limit", "1"), ("IsActive", "true"))
    assert _send(replay, "GET", "/Clients", shuffled).body == recorded[9]["response"]["body"]
    missing = _send(replay, "GET", "/Clients", (("IsActive", "true"),))
    assert missing.status == 404
    assert missing.body["errors"][0]["Message"] == "GET /Clients?IsActive=true is not in the cassette"
    assert load_cassette(tmp_path / "c" / CASSETTE_FILE).exchanges == cassette.exchanges


def _read_all(transport: Any, path: str) -> list[dict[str, Any]]:
    """Every page of a list, following page.links.next as a client may."""
    records, query = [], (("limit", "1"),)
    while True:
        body = _send(transport, "GET", path, query).body
        records += body["data"]
        following = body["page"]["links"]["next"]
        if following is None:
            return records
        path, _, text = following.partition("?")
        query = tuple(parse_qsl(text))


def test_paged_reads_replay_page_by_page(account: Emulator, tmp_path: Path) -> None:
    for code in ("ACME", "GLOBEX"):
        account.handle(Request("POST", "/Clients", body={"Name": f"{code} Inc", "ShortName": code}))
    recorder = RecordingTransport(_Keep(account), secrets=[TOKEN])
    live = _read_all(recorder, "/Clients")
    write_cassette(tmp_path / "c", recorder.exchanges, "sandbox")
    replayed = _read_all(ReplayTransport(load_cassette(tmp_path / "c")), "/Clients")
    assert len(recorder.exchanges) == 2 and [c["ID"] for c in replayed] == [c["ID"] for c in live]
    assert [c["ShortName"] for c in replayed] == ["CLIENT1", "CLIENT2"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no cassette here"),
    ("{not json", "not valid JSON"),
    ('{"format": 2, "exchanges": []}', "format: 2 is not a cassette format"),
    ('{"format": 1, "exchanges": {}}', "exchanges: expected a list"),
    ('{"format": 1, "exchanges": [{"request": {"method": "GET", "path": "Jobs"}, "response": {"status": 200}}]}',
     "exchanges[0].request.path: expected a path starting with /"),
    ('{"format": 1, "exchanges": [{"request": {"method": "GET", "path": "/Jobs", "query": [["a"]]},'
     ' "response": {"status": 200}}]}', "exchanges[0].request.query[0]: expected a [key, value] pair"),
    ('{"format": 1, "exchanges": [{"request": {"method": "GET", "path": "/Jobs"}, "response": {"status": "200"}}]}',
     "exchanges[0].response.status: expected an HTTP status"),
])
def test_a_malformed_cassette_is_a_clear_error(tmp_path: Path, content: str | None, message: str) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    if content is not None:
        (folder / CASSETTE_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(CassetteError) as raised:
        load_cassette(folder)
    assert isinstance(raised.value, ReconcilerError)
    assert str(raised.value).startswith(str(folder / CASSETTE_FILE)) and message in str(raised.value)


def test_replay_server_serves_a_cassette_over_http(account: Emulator, tmp_path: Path) -> None:
    recorder, made = _record(account)
    write_cassette(tmp_path / "c", recorder.exchanges, "sandbox", secrets=[TOKEN])
    server = replay_server(tmp_path / "c", token="replay-token").start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": "Token replay-token"}) as client:
            answer = client.get(f"/Jobs/{made['job']['ID']}/Tasks")
            assert (answer.status_code, answer.json()) == (200, {"data": [made["task"]["ID"]]})
            lookup = client.get("/Users", params={"Email": "user1@example.invalid"})
            assert lookup.json()["data"][0]["ID"] == made["jane"]["ID"]
            assert client.get("/Me").status_code == 404
            assert "not in the cassette" in client.get("/Me").json()["errors"][0]["Message"]
            assert client.get("/Me", headers={"Authorization": "Token nope"}).status_code == 401
    finally:
        server.stop()
    with pytest.raises(CassetteError):
        replay_server(tmp_path / "nowhere")
