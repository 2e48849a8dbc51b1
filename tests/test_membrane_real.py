"""Membrane as its own documents allow it to behave, not as our fakes first assumed: folded query
keys, every output shape, `{}` from the proxy, an encoding header over a decoded body, a base URL
with or without /v2, and a token minted without a tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run
from fakes import FakeMembrane
from fakes.membrane_api_server import FakeMembraneApi

from reconciler.sandbox.emulator import Emulator

MEMBRANE_VARS = ("MEMBRANE_BIN", "MEMBRANE_CONNECTION_ID", "MEMBRANE_TOKEN", "MEMBRANE_TOKEN_FILE", "MEMBRANE_API_URL",
                 "MEMBRANE_API_URI", "MEMBRANE_WORKSPACE_KEY", "MEMBRANE_WORKSPACE_SECRET", "MEMBRANE_TENANT_KEY",
                 "MEMBRANE_CLICKTIME_PATH_PREFIX", "MEMBRANE_RECORD_DIR")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMembrane]:
    fake = FakeMembrane(tmp_path / "membrane", tmp_path / "account.sqlite3")
    for name in MEMBRANE_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RECONCILER_BACKEND", "membrane")
    monkeypatch.setenv("NO_COLOR", "1")
    yield fake
    getattr(fake, "close", lambda: None)()


def applied_then(fake: FakeMembrane, config: Path) -> None:
    """The account matches the configuration; from here on the CLI misbehaves as the test says."""
    result = run("apply", config, "--yes")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("shape", ["full", "output", "banner", "wrapped"])
def test_every_documented_output_shape_reads_the_same_account(fake: FakeMembrane, basic_config: Path,
                                                              shape: str) -> None:
    applied_then(fake, basic_config)
    fake.request_shape(shape)
    result = run("plan", basic_config, "--detailed-exitcode")
    assert result.exit_code == 0, result.stdout + result.stderr


def test_folded_query_keys_do_not_hide_records(fake: FakeMembrane, basic_config: Path) -> None:
    applied_then(fake, basic_config)
    fake.fold_repeated_query()
    result = run("plan", basic_config, "--detailed-exitcode")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "to create" not in result.stdout


@pytest.mark.parametrize("shape", ["garbage", "garbage-text"])
def test_an_unknown_output_shape_is_a_clear_error(fake: FakeMembrane, basic_config: Path, shape: str) -> None:
    fake.request_shape(shape)
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "membrane" in result.stderr.lower()
    assert "{" in result.stderr or "printed no JSON" in result.stderr  # the start of what it printed


def test_the_v2_base_path_is_found_not_assumed(fake: FakeMembrane, basic_config: Path) -> None:
    fake.set(base_ends_in_v2=False)
    result = run("apply", basic_config, "--yes")
    assert result.exit_code == 0, result.stderr
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


@pytest.fixture
def proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMembraneApi]:
    server = FakeMembraneApi(Emulator.open(str(tmp_path / "account.sqlite3")), token="membrane-token").start()
    for name in MEMBRANE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECONCILER_BACKEND", "membrane-api")
    monkeypatch.setenv("MEMBRANE_API_URL", server.url)
    monkeypatch.setenv("MEMBRANE_TOKEN", "membrane-token")
    monkeypatch.setenv("NO_COLOR", "1")
    yield server
    server.stop()
    server.emulator.close()


def test_proxy_answering_empty_objects_is_a_clean_error(proxy: FakeMembraneApi, basic_config: Path) -> None:
    proxy.empty_bodies = True
    result = run("plan", basic_config)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "membrane-api" in result.stderr and "'{}'" in result.stderr


def test_an_encoding_header_over_a_decoded_body_is_read(proxy: FakeMembraneApi, basic_config: Path) -> None:
    proxy.gzip_header = True
    applied = run("apply", basic_config, "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


def test_proxy_base_path_is_found(proxy: FakeMembraneApi, basic_config: Path) -> None:
    proxy.base_ends_in_v2 = False
    assert run("apply", basic_config, "--yes").exit_code == 0
    assert run("plan", basic_config, "--detailed-exitcode").exit_code == 0


def test_no_token_is_minted_without_a_tenant(proxy: FakeMembraneApi, basic_config: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMBRANE_TOKEN")
    monkeypatch.setenv("MEMBRANE_WORKSPACE_KEY", "ws-key")
    monkeypatch.setenv("MEMBRANE_WORKSPACE_SECRET", "ws-secret-value")
    result = run("plan", basic_config)
    assert result.exit_code == 1
    assert "MEMBRANE_TENANT_KEY" in result.stderr and "ws-secret-value" not in result.stderr
