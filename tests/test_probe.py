"""`doctor --probe`: read-only first contact on every backend, each undocumented answer style
reported as it is, and a recorded cassette that replays to the same account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run, serve_over_http

from reconciler.clicktime.client import ClickTimeClient
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.server import Knobs
from reconciler.sandbox.styles import parse_styles


def probe_lines(directory: Path, *extra: str) -> dict[str, str]:
    result = run("doctor", directory, "--probe", *extra)
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = {}
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("[") and "] " in line and not line.startswith(("[ok", "[FAIL")):
            verdict, rest = line[1:].split("] ", 1)
            lines[rest.split(":", 1)[0]] = verdict
    assert "API call(s)" in result.stdout
    return lines


def test_probe_runs_read_only_on_every_backend(basic_config: Path, sandbox_path: Path, api: ClickTimeClient) -> None:
    assert run("apply", basic_config, "--yes").exit_code == 0
    before = {c: len(api.list_all(c)) for c in ("Clients", "Jobs", "Tasks", "Users")}
    verdicts = probe_lines(basic_config)
    assert verdicts["list envelope {data, page.count}"] == "holds"
    assert verdicts["unset fields come back as null"] == "holds"
    assert verdicts["assignment endpoints answer"] == "holds"
    assert {c: len(api.list_all(c)) for c in ("Clients", "Jobs", "Tasks", "Users")} == before


@pytest.mark.parametrize("style, finding", [
    ("omit-nulls", "unset fields come back as null"),
    ("datetimes", "dates are plain YYYY-MM-DD"),
    ("small-pages", "largest page granted"),
    ("inactive-by-default", "lists hide inactive records unless IsActive is sent"),
    ("last-query-wins", "repeated query keys reach ClickTime"),
    ("assignments-hide-inactive", "assignment lists include inactive members"),
])
def test_each_answer_style_is_reported_as_a_difference(style: str, finding: str, basic_config: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "account.sqlite3"
    monkeypatch.setenv("RECONCILER_SANDBOX", str(path))
    assert run("apply", basic_config, "--yes", "--backend", "sandbox").exit_code == 0
    arrange = Emulator.open(str(path))
    client = ClickTimeClient(_Keep(arrange))
    task = next(t for t in client.list_all("Tasks") if t["TaskCode"] == "DESIGN")
    client.update("Tasks", task["ID"], {"IsActive": False})  # an inactive (and assigned) task to tell lists by
    arrange.close()
    with serve_over_http(path, monkeypatch, Knobs(token="t", style=parse_styles(style))):
        plain = probe_lines(tmp_path)
        assert plain[finding] == "differs", plain
    with serve_over_http(path, monkeypatch, Knobs(token="t")):
        assert probe_lines(tmp_path)[finding] == "holds"


class _Keep:
    def __init__(self, emulator: Emulator) -> None:
        from reconciler.sandbox.transport import SandboxTransport

        self.inner = SandboxTransport(emulator)

    def send(self, request):  # type: ignore[no-untyped-def]
        return self.inner.send(request)

    def close(self) -> None:
        pass


def test_recorded_cassette_replays_to_the_same_account(basic_config: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "account.sqlite3"
    monkeypatch.setenv("RECONCILER_SANDBOX", str(path))
    with serve_over_http(path, monkeypatch, Knobs(token="secret-token-1234")):
        assert run("apply", basic_config, "--yes").exit_code == 0
        recorded = run("doctor", basic_config, "--probe", "--record", tmp_path / "cassette")
        assert recorded.exit_code == 0, recorded.stderr
        assert "No changes" in recorded.stdout
    text = (tmp_path / "cassette" / "cassette.json").read_text()
    assert "secret-token-1234" not in text and "jane@example.com" not in text and "Acme Corporation" not in text
    json.loads(text)
    from reconciler.clicktime.cassette import load_cassette
    from reconciler.sandbox.server import replay_server

    server = replay_server(tmp_path / "cassette", token="replay-token").start()
    try:
        monkeypatch.setenv("RECONCILER_BACKEND", "clicktime")
        monkeypatch.setenv("CLICKTIME_API_URL", server.url)
        monkeypatch.setenv("CLICKTIME_TOKEN", "replay-token")
        assert run("import", "--out", tmp_path / "imported").exit_code == 0
        replayed = run("plan", tmp_path / "imported", "--detailed-exitcode")
        assert replayed.exit_code == 0, replayed.stdout + replayed.stderr
        assert len(load_cassette(tmp_path / "cassette").exchanges) > 10
    finally:
        server.stop()
