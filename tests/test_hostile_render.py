"""Names, keys and notes in a plan come from the pull request and from whoever can edit the
account. No such value may change the structure of what is rendered: the Markdown comment
(checked with GitHub's own CommonMark implementation), the terminal text, the drift patch, the
split comments, or the redacted output."""

from __future__ import annotations

import html
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
import yaml
from cmarkgfm.cmark import Options

from reconciler.config.loader import load_configuration
from reconciler.model import Kind, LiveState
from reconciler.plan import Action, Change, FieldChange, KindHeader, Plan
from reconciler.render import render
from reconciler.render.markdown import GITHUB_COMMENT_LIMIT, split_comments
from reconciler.render.text import Styler, change_lines
from reconciler.render.yaml_patch import yaml_patch

HOSTILE = [
    "\n\n<!-- hide what follows",
    "# Heading",
    "\n## Heading",
    "- [ ] task",
    "</details>",
    "<details><summary>fake</summary>",
    "</summary>",
    "``` fence",
    "`",
    "a ` b `` c",
    "cell | split",
    '<img src="https://evil.test/pixel.png">',
    "![pixel](https://evil.test/pixel.png)",
    "[click](https://evil.test)",
    "[ref]: https://evil.test",
    "@octocat please look",
    "hi @org/team",
    "x\r\n* item",
    "> quote",
    "1. ordered",
    "    indented code",
    "***",
    "&lt;b&gt;",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "$x^2$",
    "~~gone~~",
    "trailing \\",
]
HEADERS = {kind: KindHeader("ignore", 3, 1) for kind in Kind}


def markdown_html(text: str) -> str:
    """GitHub's CommonMark with its extensions, raw HTML passed through (GitHub sanitises after
    rendering, so anything raw here would reach the page or hide what follows)."""
    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


class Texts(HTMLParser):
    """Text of an HTML page, each piece with whether it sits inside <code>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[tuple[str, bool]] = []
        self.tags: list[str] = []
        self.code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self.code -= tag == "code"

    def handle_data(self, data: str) -> None:
        self.pieces.append((data, self.code > 0))

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"an HTML comment reached the page: {data[:40]!r}")


MENTION = re.compile(r"(?:^|[^\w`])@[a-z0-9][a-z0-9-]*(?:/[a-z0-9][a-z0-9_-]*)?", re.I)


def parse(page: str) -> Texts:
    texts = Texts()
    texts.feed(page)
    return texts


def plan_of(changes: list[Change], warnings: tuple[str, ...] = (), protect: tuple[str, ...] = ()) -> Plan:
    headers = dict(HEADERS)
    headers[Kind.USER] = KindHeader("deactivate", 3, 1, protect=protect)
    return Plan(changes=tuple(changes), backend="sandbox", kinds=headers, warnings=warnings)


def hostile_plan() -> Plan:
    changes: list[Change] = []
    for n, value in enumerate(HOSTILE):
        changes.append(Change(Action.UPDATE, Kind.CLIENT, (f"C{n:02d}{value}",),
                              {"name": FieldChange(value, f"new {value}"), "notes": FieldChange(None, value)}))
        changes.append(Change(Action.DEACTIVATE, Kind.JOB, (f"C{n:02d}", f"J{value}"), notes=(value,)))
        changes.append(Change(Action.UNASSIGN, Kind.JOB, (f"C{n:02d}", "J"), list_name="users", target=(f"u{value}",)))
    return plan_of(changes, warnings=tuple(HOSTILE), protect=tuple(HOSTILE))


# -- Markdown ----------------------------------------------------------------------------------

def test_a_comment_in_a_key_cannot_hide_the_destructive_changes_after_it() -> None:
    changes = [Change(Action.DEACTIVATE, Kind.JOB, ("ACME", f"J-{n:02d}")) for n in range(46)]
    changes[0] = Change(Action.DEACTIVATE, Kind.JOB, ("ACME", "J-00\n\n<!--"))
    page = markdown_html(render(plan_of(changes), "markdown"))
    assert "<!--" not in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert all(f"ACME/J-{n:02d}" in text for n in range(46))
    assert "Destructive changes (46)" in text


def test_hostile_values_add_no_structure_to_the_comment() -> None:
    markdown = render(hostile_plan(), "markdown")
    page = markdown_html(markdown)
    tags = parse(page).tags
    assert [t for t in tags if re.fullmatch(r"h[1-6]", t)] == ["h3", "h4", "h4"]  # title, destructive, warnings
    for forbidden in ("input", "img", "script", "b", "blockquote", "ol", "pre", "hr", "del"):
        assert forbidden not in tags, forbidden
    assert "<!--" not in page
    opened = [line for line in markdown.splitlines() if line.startswith("<details>")]
    assert tags.count("details") == len(opened) == 4  # clients, jobs, assignments, policy
    assert tags.count("summary") == 4
    assert tags.count("table") == 4  # counts, clients, jobs, policy
    assert tags.count("ul") == 3  # destructive, assignments, warnings: no list from a value


def test_every_hostile_value_is_shown_not_interpreted() -> None:
    page = markdown_html(render(hostile_plan(), "markdown"))
    text = "".join(piece for piece, _ in parse(page).pieces)
    for value in HOSTILE:
        shown = value.replace("\n", "\\n").replace("\r", "\\r")
        assert shown in text, value


def test_mentions_cannot_notify_anyone() -> None:
    page = markdown_html(render(hostile_plan(), "markdown"))
    prose = [piece for piece, in_code in parse(page).pieces if not in_code]
    assert [m.group(0) for piece in prose for m in MENTION.finditer(piece)] == []
    assert "@octocat" in page and "@org/team" in page  # still shown, as code


def test_no_part_is_longer_than_a_comment_even_for_one_long_line() -> None:
    long_note = "cascades to " + ", ".join(f"job ACME/J-{n:05d}" for n in range(12_000))
    plan = plan_of([Change(Action.DEACTIVATE, Kind.CLIENT, ("ACME",), notes=(long_note,)),
                    Change(Action.UPDATE, Kind.CLIENT, ("BETA",), {"notes": FieldChange("x" * 150_000, "y")})],
                   warnings=("w" * 100_000,))
    parts = split_comments(render(plan, "markdown"))
    assert all(len(p.encode("utf-16-le")) // 2 <= GITHUB_COMMENT_LIMIT for p in parts)
    assert all(p.count("<details>") == p.count("</details>") for p in parts)
    page = markdown_html("".join(parts))
    assert "<!--" not in page


def test_split_cuts_a_single_long_line() -> None:
    text = "### ClickTime plan\n\n- " + "é" * 200_000 + "\n- 😀" * 40_000 + "\n"
    parts = split_comments(text)
    assert len(parts) > 3
    assert all(len(p.encode("utf-16-le")) // 2 <= GITHUB_COMMENT_LIMIT for p in parts)


# -- terminal text -----------------------------------------------------------------------------

TERMINAL_HOSTILE = ["\x1b[2J\x1b[H", "\x1b]0;pwned\x07", "ok\rDELETED", "\x9b31m", "abc\u202edcba", "x\u2028y",
                    "\u200bzero", "\x00nul", "\x7f", "\u2066isolate\u2069"]
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def terminal_plan() -> Plan:
    changes: list[Change] = []
    for n, value in enumerate(TERMINAL_HOSTILE):
        changes.append(Change(Action.UPDATE, Kind.CLIENT, (f"C{n}{value}",), {"name": FieldChange(value, value + "!")},
                              notes=(value,)))
        changes.append(Change(Action.ASSIGN, Kind.JOB, (f"C{n}", value), list_name="tasks", target=(value,)))
    return plan_of(changes, warnings=tuple(TERMINAL_HOSTILE), protect=tuple(TERMINAL_HOSTILE))


def test_text_plan_shows_control_characters_escaped() -> None:
    text = render(terminal_plan(), "text")
    assert RAW.findall(text) == []
    for escaped in ("\\x1b[2J", "\\x1b]0;pwned\\x07", "ok\\rDELETED", "\\x9b31m", "abc\\u202edcba", "x\\u2028y",
                    "\\u200bzero", "\\x00nul", "\\x7f", "\\u2066isolate\\u2069"):
        assert escaped in text, escaped


def test_coloured_text_has_only_its_own_escape_sequences() -> None:
    text = render(terminal_plan(), "text", color=True)
    assert RAW.findall(re.sub(r"\x1b\[[0-9;]*m", "", text)) == []


def test_change_lines_for_the_apply_prompt_are_escaped() -> None:
    lines = [line for change in terminal_plan().changes for line in change_lines(change, Styler(False))]
    assert lines and all(not RAW.search(line) for line in lines)


# -- drift as a patch ---------------------------------------------------------------------------

def test_yaml_patch_replaces_a_block_scalar_and_stays_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "clients.yaml").write_text(
        "clients:\n  ACME:\n    name: Acme\n    notes: |\n      line one\n      line two\n    active: true\n"
        "  BETA:\n    notes: >-\n      folded\n      text\n\n  GAMMA: {name: Gamma}\n", encoding="utf-8")
    config = load_configuration("config")
    plan = plan_of([
        Change(Action.UPDATE, Kind.CLIENT, ("ACME",),
               {"notes": FieldChange("live\nnotes: injected\n\u2028x", "line one\nline two\n")}),
        Change(Action.UPDATE, Kind.CLIENT, ("BETA",), {"notes": FieldChange("a\tb\x1b", "folded text")}),
        Change(Action.UPDATE, Kind.CLIENT, ("GAMMA",), {"name": FieldChange("Gamma\n  evil: 1", "Gamma")}),
        Change(Action.DEACTIVATE, Kind.CLIENT, ("EVIL\n+++ b/config/clients.yaml\n@@ -1 +1 @@",)),
    ], warnings=("warned\n-    name: Acme",))
    patch_text = yaml_patch(plan, config, LiveState())
    head = patch_text[:patch_text.index("--- a/")].splitlines()
    assert head and all(line.startswith("# ") for line in head)
    subprocess.run(["patch", "-p1"], input=patch_text, text=True, check=True, capture_output=True)
    adopted = load_configuration("config").desired.objects[Kind.CLIENT]
    assert adopted[("ACME",)].fields == {"name": "Acme", "notes": "live\nnotes: injected\n\u2028x", "active": True}
    assert adopted[("BETA",)].fields == {"notes": "a\tb\x1b"}
    assert adopted[("GAMMA",)].fields == {"name": "Gamma\n  evil: 1"}


# -- redaction ---------------------------------------------------------------------------------

PERSONAL = ["Jane Doe", "Bob Roe", "1984-02-29", "2031-12-31", "E-77", "jane@example.com", "ceo@example.com",
            "boss@example.com", "salary 90k"]


def personal_plan() -> Plan:
    return plan_of([
        Change(Action.CREATE, Kind.USER, ("jane@example.com",),
               {"name": FieldChange(None, "Jane Doe"), "start_date": FieldChange(None, "1984-02-29"),
                "end_date": FieldChange(None, "2031-12-31"), "employee_number": FieldChange(None, "E-77")}),
        Change(Action.UPDATE, Kind.USER, ("bob@example.com",), {"name": FieldChange("Bob Roe", "Robert Roe"),
                                                                "notes": FieldChange(None, "salary 90k")}),
        Change(Action.CREATE, Kind.CLIENT, ("boss@example.com",), {"name": FieldChange(None, "Boss Ltd")}),
        Change(Action.DEACTIVATE, Kind.USER, ("old@example.com",), notes=("Jane Doe manages 3 jobs",)),
    ], warnings=("user Bob Roe has no division",), protect=("ceo@example.com", "*@board.example.com"))


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_redact_masks_personal_values_in_every_format(fmt: str) -> None:
    shown = render(personal_plan(), fmt, redact=True)
    assert [value for value in [*PERSONAL, "Robert Roe"] if value in shown] == []
    assert "Boss Ltd" in shown  # a company name is not personal
    assert "b***@example.com" in shown and "***@board.example.com" in shown
    if fmt == "json":
        json.loads(shown)


def test_redacted_yaml_patch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "users.yaml").write_text(
        "users:\n  jane@example.com: {name: Jane Doe, start_date: '1984-02-29', employee_number: E-77}\n"
        "  bob@example.com:\n    name: Bob Roe\n    notes: salary 90k\n", encoding="utf-8")
    config = load_configuration("config")
    plan = plan_of([Change(Action.UPDATE, Kind.USER, ("bob@example.com",),
                           {"name": FieldChange("Robert Roe", "Bob Roe")}),
                    Change(Action.DEACTIVATE, Kind.USER, ("ceo@example.com",))])
    assert "Robert Roe" in yaml_patch(plan, config, LiveState())
    shown = yaml_patch(plan, config, LiveState(), redact=True)
    assert [value for value in [*PERSONAL, "Robert Roe"] if value in shown] == []
    assert "c***@example.com" in shown


def test_json_plan_escapes_what_json_leaves_raw() -> None:
    text = render(terminal_plan(), "json")
    assert RAW.findall(text) == []
    data = json.loads(text)
    assert data["warnings"] == TERMINAL_HOSTILE  # the same text once read back


def test_expanded_configuration_escapes_format_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.render.expanded import render_expanded

    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "c.yaml").write_text('clients:\n  ACME: {name: "abc\\u202edcba", notes: "caf\\u00e9"}\n',
                                                encoding="utf-8")
    text = render_expanded(load_configuration("config").desired)
    assert RAW.findall(text) == [] and "\\u202E" in text
    assert yaml.safe_load(text)["clients"]["ACME"] == {"name": "abc\u202edcba", "notes": "caf\u00e9"}
