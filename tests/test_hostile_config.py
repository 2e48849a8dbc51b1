"""A configuration directory from a pull request is hostile: links out of it, files that are not
files, variables that name the tool's credentials, YAML built to exhaust memory, keys that look
like other keys. Each is a located problem, reported with every other problem, never a hang, a
traceback, a silently skipped file or an echo of something that is not configuration."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest
import yaml

from reconciler.config import yamlfile
from reconciler.config.loader import load_configuration
from reconciler.errors import ConfigError
from reconciler.model import Kind

SECRET = "s3cr3t-PASSWORD"
NETRC = f"machine api.clicktime.com\n  login bot\n  password {SECRET}\n"
LOCATED = re.compile(r"^cfg/[^:]+:\d+:\d+: ")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def problems(root: str = "cfg") -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_configuration(root)
    return [str(p) for p in raised.value.problems]


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty configuration directory `cfg`, the working directory its parent (so messages
    name files as cfg/...), and a .netrc with a password beside it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "netrc").write_text(NETRC, encoding="utf-8")
    for name in [n for n in os.environ if n.startswith("RECONCILER_VAR_")]:
        monkeypatch.delenv(name)
    root = tmp_path / "cfg"
    root.mkdir()
    return root


# -- files and links ---------------------------------------------------------------------------

def test_link_to_a_file_outside_is_refused_without_reading_it(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "jobs.yaml").symlink_to("../netrc")
    found = problems()
    assert found == ["cfg/jobs.yaml: symbolic link to a file outside the configuration directory; "
                     "only files inside it are read"]
    assert not any(SECRET in p for p in found)


def test_link_to_a_directory_outside_is_refused(cfg: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere", {"more.yaml": "clients:\n  X: {name: X}\n"})
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "shared").symlink_to(tmp_path / "elsewhere")
    assert problems() == ["cfg/shared: symbolic link to a directory outside the configuration directory; "
                          "only files inside it are read"]


def test_link_inside_to_something_that_is_not_configuration_is_refused(cfg: Path) -> None:
    write(cfg, {".git/config": f"[http]\n  extraheader = AUTHORIZATION: basic {SECRET}\n",
                "clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "git.yaml").symlink_to(".git/config")
    found = problems()
    assert found == ["cfg/git.yaml: symbolic link to .git/config, which is not a configuration file "
                     "(it is hidden or not named *.yaml or *.yml)"]


def test_link_to_a_directory_that_contains_it_is_refused(cfg: Path) -> None:
    write(cfg, {"sub/clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "sub" / "loop").symlink_to("..")
    assert problems() == ["cfg/sub/loop: symbolic link to a directory that contains it"]


def test_link_inside_the_directory_is_read(cfg: Path) -> None:
    write(cfg, {"real/clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "linked").symlink_to("real")
    write(cfg, {"real/clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    # the same file reached twice declares ACME twice: reported, not silently merged
    assert problems() == ["cfg/real/clients.yaml:2:3: client 'ACME' is declared twice: also at "
                          "cfg/linked/clients.yaml:2:3"]


def test_settings_link_outside_is_refused(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "reconciler.yaml").symlink_to("../netrc")
    found = problems()
    assert found == ["cfg/reconciler.yaml: symbolic link to a file outside the configuration directory; "
                     "only files inside it are read"]


def test_a_file_that_is_not_a_mapping_is_not_quoted(cfg: Path) -> None:
    write(cfg, {"notes.yaml": f"password {SECRET}\n", "env.yaml": f"- TOKEN={SECRET}\n"})
    found = problems()
    assert found == ["cfg/env.yaml:1:1: file: expected a mapping, got a list",
                     "cfg/notes.yaml:1:1: file: expected a mapping, got text"]


def test_yaml_syntax_errors_do_not_quote_the_file(cfg: Path) -> None:
    write(cfg, {"bad.yaml": f"machine: x\n  password: {SECRET}\n\t{SECRET}\n"})
    found = problems()
    assert len(found) == 1 and LOCATED.match(found[0]) and SECRET not in found[0]


def test_upper_case_extension_is_read(cfg: Path) -> None:
    write(cfg, {"jobs.YAML": "jobs:\n  ACME:\n    J-1: {name: One}\n",
                "clients.Yml": "clients:\n  ACME: {name: Acme}\n"})
    config = load_configuration("cfg")
    assert config.files == ["cfg/clients.Yml", "cfg/jobs.YAML"]
    assert ("ACME", "J-1") in config.desired.objects[Kind.JOB]


def test_dangling_link_is_reported(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "jobs.yaml").symlink_to("gone.yaml")
    assert problems() == ["cfg/jobs.yaml: symbolic link to nothing (its target does not exist)"]


def test_named_pipe_is_reported_not_read(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    os.mkfifo(cfg / "jobs.yaml")  # opening it for reading would wait forever for a writer
    assert problems() == ["cfg/jobs.yaml: not a regular file (a named pipe)"]


def test_socket_is_reported(cfg: Path, tmp_path: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind("cfg/jobs.yaml")
        assert problems() == ["cfg/jobs.yaml: not a regular file (a socket)"]
    finally:
        server.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_reported(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n"})
    (cfg / "clients.yaml").chmod(0)
    assert problems() == ["cfg/clients.yaml: cannot read file: Permission denied"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
def test_unreadable_directory_is_reported(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n", "more/jobs.yaml": "jobs: {}\n"})
    (cfg / "more").chmod(0)
    try:
        assert problems() == ["cfg/more: cannot read directory: Permission denied"]
    finally:
        (cfg / "more").chmod(0o755)


def test_unreadable_file_and_directory_are_reported_even_as_root(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same paths as above, with the refusal simulated where the operating system would give it."""
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n", "more/jobs.yaml": "jobs: {}\n",
                "tasks.yaml": "tasks:\n  DEV: {name: Dev}\n"})
    real_scandir, real_open = os.scandir, os.open

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "more":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def deny_open(path: str | os.PathLike[str], flags: int, *rest: int) -> int:
        if Path(path).name == "tasks.yaml":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *rest)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", deny_open)
    assert problems() == ["cfg/more: cannot read directory: Permission denied",
                          "cfg/tasks.yaml: cannot read file: Permission denied"]


def test_file_name_with_control_characters_is_refused(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n", "x\x1b[2J.yaml": "tasks: {}\n"})
    assert problems() == ["cfg/x\\x1b[2J.yaml: file name contains U+001B; rename the file"]


# -- variables ---------------------------------------------------------------------------------

def test_variables_outside_the_allowed_prefix_are_refused(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKTIME_TOKEN", SECRET)
    monkeypatch.setenv("HOME_TEAM", "x")
    write(cfg, {"clients.yaml": 'clients:\n  ACME: {name: "t=${CLICKTIME_TOKEN}", notes: "${HOME_TEAM:-none}"}\n'})
    found = problems()
    assert found == [
        "cfg/clients.yaml:2:16: environment variable CLICKTIME_TOKEN cannot be used: the configuration may only "
        "read variables whose names start with RECONCILER_VAR_",
        "cfg/clients.yaml:2:47: environment variable HOME_TEAM cannot be used: the configuration may only "
        "read variables whose names start with RECONCILER_VAR_",
    ]
    assert not any(SECRET in p for p in found)


def test_settings_variables_obey_the_prefix_too(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBRANE_CONNECTION_ID", "c-1")
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n",
                "reconciler.yaml": "membrane: {connection: '${MEMBRANE_CONNECTION_ID}'}\n"})
    assert problems() == ["cfg/reconciler.yaml:1:24: environment variable MEMBRANE_CONNECTION_ID cannot be used: "
                          "the configuration may only read variables whose names start with RECONCILER_VAR_"]


def test_prefixed_variables_are_substituted(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_VAR_CLIENT", "Acme Staging")
    write(cfg, {"clients.yaml": 'clients:\n  ACME: {name: "${RECONCILER_VAR_CLIENT}", '
                                'notes: "${RECONCILER_VAR_REGION:-eu} $$5"}\n'})
    fields = load_configuration("cfg").desired.objects[Kind.CLIENT][("ACME",)].fields
    assert fields == {"name": "Acme Staging", "notes": "eu $5"}


# -- settings ----------------------------------------------------------------------------------

def test_membrane_binary_and_api_url_come_only_from_the_environment(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n",
                "reconciler.yaml": "membrane:\n  connection: c-1\n  binary: /tmp/evil\n  api_url: https://evil.test\n"})
    assert problems() == [
        "cfg/reconciler.yaml:3:11: binary: cannot be set in reconciler.yaml (a pull request could change "
        "it); set the MEMBRANE_BIN environment variable instead",
        "cfg/reconciler.yaml:4:12: api_url: cannot be set in reconciler.yaml (a pull request could change "
        "it); set the MEMBRANE_API_URL environment variable instead",
    ]


def test_thresholds_must_be_finite_and_in_range(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n",
                "reconciler.yaml": "thresholds:\n  jobs: {remove_percent: .nan, update_percent: .inf}\n"
                                   "  users: {remove_percent: -0.5, update_percent: 100.5, min_objects: -1}\n"
                                   "  tasks: {min_objects: .inf}\n"
                                   "api: {rate_limit: .inf, timeout: .NaN}\n"})
    assert problems() == [
        "cfg/reconciler.yaml:2:26: remove_percent: expected a finite number, got .nan",
        "cfg/reconciler.yaml:2:48: update_percent: expected a finite number, got .inf",
        "cfg/reconciler.yaml:3:27: remove_percent: -0.5 is less than the minimum of 0",
        "cfg/reconciler.yaml:3:49: update_percent: 100.5 is greater than the maximum of 100",
        "cfg/reconciler.yaml:3:69: min_objects: -1 is less than the minimum of 0",
        "cfg/reconciler.yaml:4:24: min_objects: expected a finite number, got .inf",
        "cfg/reconciler.yaml:5:19: rate_limit: expected a finite number, got .inf",
        "cfg/reconciler.yaml:5:34: timeout: expected a finite number, got .NaN",
    ]


# -- YAML limits -------------------------------------------------------------------------------

def billion_laughs(levels: int = 8) -> str:
    lines = ["clients:", "  ACME:", "    name: Acme", "    custom_fields:",
             '      l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"      l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly(cfg: Path) -> None:
    text = billion_laughs()
    assert len(text) < 1200
    write(cfg, {"bomb.yaml": text})
    started = time.process_time()  # CPU time: unbounded, this took 14 s and 1.2 GB
    found = problems()
    assert time.process_time() - started < 3
    # at the list whose aliases go past the limit; custom fields cannot hold lists either
    assert ("cfg/bomb.yaml:10:11: YAML aliases expand to more than 200,000 values; "
            "write the values out or use templates: instead") in found
    assert len(found) == 10


def test_aliases_within_the_limit_still_work(cfg: Path) -> None:
    write(cfg, {"tasks.yaml": "tasks:\n  DEV: {name: Dev}\n  QA: {name: QA}\n",
                "clients.yaml": "clients:\n  ACME: {name: Acme}\n",
                "jobs.yaml": "jobs:\n  ACME:\n    J-1: {name: One, tasks: &std [DEV, QA]}\n"
                             "    J-2: {name: Two, tasks: *std}\n"})
    config = load_configuration("cfg")
    assert config.desired.objects[Kind.JOB][("ACME", "J-2")].assignments["tasks"] == {("DEV",), ("QA",)}


def test_recursive_alias_is_refused(cfg: Path) -> None:
    write(cfg, {"loop.yaml": "clients:\n  ACME:\n    name: Acme\n    custom_fields: &me {a: *me}\n"})
    assert problems()[0] == "cfg/loop.yaml:4:20: YAML alias refers to the value that contains it"


def test_deep_nesting_is_a_located_error(cfg: Path) -> None:
    write(cfg, {"deep.yaml": "clients: " + "[" * 10_000 + "]" * 10_000 + "\n",
                "deeper.yaml": "clients: " + "[" * 500 + "]" * 500 + "\n"})
    assert problems() == [
        "cfg/deep.yaml:1:1009: YAML syntax error: exceeded maximum nesting depth "
        "(while increasing flow level started at line 1, column 1009)",
        "cfg/deeper.yaml:1:10: clients: expected a mapping, got a list",
        "cfg/deeper.yaml:1:74: nested more than 64 levels deep",
    ]


def test_deep_nesting_with_the_pure_python_parser(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlfile, "_Loader", yaml.SafeLoader)
    write(cfg, {"deep.yaml": "clients: " + "[" * 10_000 + "]" * 10_000 + "\n"})
    assert problems() == ["cfg/deep.yaml:1:74: nested more than 64 levels deep"]


# -- look-alike keys ---------------------------------------------------------------------------

def test_invisible_characters_in_keys_are_refused(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n  \"AC\\u200bME\": {name: Acme twin}\n",
                "tasks.yaml": "tasks:\n  \"DEV\\u202e\": {name: Dev}\n  \"Q\\tA\": {name: QA}\n",
                "users.yaml": "users:\n  \"jane\\u200d@example.com\": {name: Jane}\n",
                "divisions.yaml": "divisions:\n  \"Sales\\xa0Team\": {}\n",
                "jobs.yaml": "jobs:\n  ACME:\n    \"J\\x1b[2J\": {name: One}\n"})
    assert problems() == [
        "cfg/clients.yaml:3:3: client 'AC\\u200bME' contains U+200B ZERO WIDTH SPACE, which is invisible or "
        "a control character; keys must be plainly visible text",
        "cfg/divisions.yaml:2:3: division 'Sales\\xa0Team' contains U+00A0 NO-BREAK SPACE, which is invisible or "
        "a control character; keys must be plainly visible text",
        "cfg/jobs.yaml:3:5: job 'ACME/J\\x1b[2J' contains U+001B, which is invisible or "
        "a control character; keys must be plainly visible text",
        "cfg/tasks.yaml:2:3: task 'DEV\\u202e' contains U+202E RIGHT-TO-LEFT OVERRIDE, which is invisible or "
        "a control character; keys must be plainly visible text",
        "cfg/tasks.yaml:3:3: task 'Q\\tA' contains U+0009, which is invisible or "
        "a control character; keys must be plainly visible text",
        "cfg/users.yaml:2:3: user 'jane\\u200d@example.com' contains U+200D ZERO WIDTH JOINER, which is invisible or "
        "a control character; keys must be plainly visible text",
    ]


def test_keys_that_differ_only_in_normalisation_are_one_key(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  \"Cafe\\u0301\": {name: Decomposed}\n"
                                "  \"Caf\\u00e9\": {name: Composed}\n"})
    assert problems() == ["cfg/clients.yaml:3:3: client 'Café' is declared twice: also at cfg/clients.yaml:2:3"]


def test_references_are_normalised_and_checked(cfg: Path) -> None:
    write(cfg, {"users.yaml": "users:\n  \"jos\\u00e9@example.com\": {name: Jose, division: \"Caf\\u00e9\"}\n",
                "divisions.yaml": "divisions:\n  \"Caf\\u00e9\": {}\n",
                "clients.yaml": "clients:\n  ACME: {name: Acme}\n",
                "jobs.yaml": "jobs:\n  ACME:\n    J-1: {name: One, project_manager: \"jose\\u0301@example.com\"}\n"
                             "    J-2: {name: Two, users: "
                             "[\"jos\\u00e9@example.com\", \"jos\\u200be@example.com\"]}\n"})
    assert problems() == [
        "cfg/jobs.yaml:4:55: users: 'jos\\u200be@example.com' contains U+200B ZERO WIDTH SPACE, which is "
        "invisible or a control character; keys must be plainly visible text",
    ]
    write(cfg, {"jobs.yaml": "jobs:\n  ACME:\n    J-1: {name: One, project_manager: \"jose\\u0301@example.com\"}\n"})
    config = load_configuration("cfg", require_declared=True)
    job = config.desired.objects[Kind.JOB][("ACME", "J-1")]
    assert job.fields["project_manager"] == "jos\u00e9@example.com"
    user = config.desired.objects[Kind.USER][("jos\u00e9@example.com",)]
    assert user.fields["division"] == "Caf\u00e9"


def test_keys_with_surrounding_spaces_are_refused(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  ACME: {name: Acme}\n  'ACME ': {name: Acme twin}\n",
                "tasks.yaml": "tasks:\n  ' DEV': {name: Dev}\n"})
    assert problems() == [
        "cfg/clients.yaml:3:3: client 'ACME ' begins or ends with a space, which would make it look like "
        "another key",
        "cfg/tasks.yaml:2:3: task ' DEV' begins or ends with a space, which would make it look like another key",
    ]


def test_protect_patterns_are_normalised_like_keys(cfg: Path) -> None:
    write(cfg, {"clients.yaml": "clients:\n  \"Caf\\u00e9\": {name: Cafe}\n",
                "reconciler.yaml": "protect:\n  clients: [\"Cafe\\u0301\"]\n"})
    config = load_configuration("cfg")
    assert config.settings.protected(Kind.CLIENT, ("Caf\u00e9",))
