"""Markdown for a pull-request comment: counts first, destructive changes pinned on top.

Keys, names, notes and warnings come from the pull request and from whoever can edit the
account. None may add structure to the comment: a blank line and `<!--` would hide every change
after it. Keys are inline code with a fence longer than any backtick run they hold; other values
are text with every Markdown and HTML character escaped. Control characters are shown escaped
(`\\n`), so a value never spans lines, and `@name` is code, so nobody is notified.
"""

from __future__ import annotations

import re

from reconciler.model import KINDS
from reconciler.plan import Change, Plan
from reconciler.render import summary_line, value_text, visible

GITHUB_COMMENT_LIMIT = 65_536
MAX_VALUE = 2_000  # characters of one value shown; the JSON plan has all of it
# Characters that mean something to CommonMark, GitHub's extensions (tables, strikethrough,
# math) or HTML anywhere in a line; a backslash makes each literal.
_SPECIAL = re.compile(r"[\\`*_\[\]<>|~!#&$]")
# What would open a block if it began a list item: a list marker, a numbered item, or the
# indentation of a code block.
_BLOCK_START = re.compile(r"^( *)([-+=]|\d+(?=[.)]))?")
# GitHub's mention syntax (@user, @org/team), not preceded by a word character as in an email.
_MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][A-Za-z0-9_-]*)?")


def _shown(text: str) -> str:
    shown = visible(text)
    if len(shown) > MAX_VALUE:
        shown = shown[:MAX_VALUE] + f"… ({len(shown) - MAX_VALUE:,} more characters)"
    return shown


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each end of a code span that has both, and a backtick
    # at an end would merge with the fence: pad so the content is shown as it is.
    pad = " " if text.strip(" ") and (text[0] in "` " or text[-1] in "` ") else ""
    return f"{fence}{pad}{text or ' '}{pad}{fence}"


def code(text: str, table: bool = False) -> str:
    """`text` as inline code. In a table cell a pipe is escaped even inside code (GFM splits
    cells before it parses code spans)."""
    span = _fence(_shown(text))
    return span.replace("|", "\\|") if table else span


def prose(text: str) -> str:
    """`text` as plain text that adds no structure, in a table cell or a list item."""
    shown = _shown(text)
    pieces: list[str] = []
    start = 0
    for mention in _MENTION.finditer(shown):
        pieces += [_escape(shown[start:mention.start()], first=not pieces), _fence(mention.group(0))]
        start = mention.end()
    pieces.append(_escape(shown[start:], first=not pieces))
    return "".join(pieces)


def _escape(text: str, first: bool) -> str:
    escaped = _SPECIAL.sub(r"\\\g<0>", text)
    return _BLOCK_START.sub(_unblock, escaped, count=1) if first else escaped


def _unblock(match: re.Match[str]) -> str:
    """Leading spaces as entities (not the indentation of a code block), the marker escaped."""
    indent, marker = match.group(1), match.group(2) or ""
    if marker:
        marker = marker + "\\" if marker[0].isdigit() else "\\" + marker
    return "&#32;" * len(indent) + marker


def _describe(change: Change, table: bool) -> str:
    if change.target is not None:
        return f"{change.action} {change.list_name[:-1] if change.list_name else ''} " \
               f"{code('/'.join(change.target), table)} " \
               f"({'to' if change.action == 'assign' else 'from'} job {code('/'.join(change.key), table)})"
    return f"{change.action} {change.kind.value} {code('/'.join(change.key), table)}"


def render(plan: Plan) -> str:
    lines = ["### ClickTime plan", "", f"**{summary_line(plan)}**", ""]
    if plan.partial:
        lines += [f"Partial plan: only {', '.join(code(p) for p in plan.partial)}; the rest of the account is left "
                  "alone.", ""]
    if plan.commit:
        lines += [f"Planned from commit {code(plan.commit)}.", ""]
    counts = {a: n for a, n in plan.summary().items() if n}
    if counts:
        lines += ["| action | count |", "| --- | ---: |"] + [f"| {a} | {n} |" for a, n in counts.items()] + [""]
    destructive = [c for c in plan.changes if c.destructive]
    if destructive:
        lines += [f"#### :warning: Destructive changes ({len(destructive)})", ""]
        for change in destructive:
            notes = "".join(f" — {prose(n)}" for n in change.notes)
            lines.append(f"- {_describe(change, table=False)}{notes}")
        lines.append("")
    for kind in KINDS:
        changes = [c for c in plan.changes if c.kind is kind and c.target is None]
        if changes:
            lines += [f"<details><summary>{kind.section.capitalize()} ({len(changes)})</summary>", "",
                      "| change | field | old | new |", "| --- | --- | --- | --- |"]
            for change in changes:
                lines += _change_rows(change)
            lines += ["", "</details>", ""]
    assignments = [c for c in plan.changes if c.target is not None]
    if assignments:
        lines += [f"<details><summary>Assignments ({len(assignments)})</summary>", ""]
        lines += [f"- {_describe(c, table=False)}" for c in assignments] + ["", "</details>", ""]
    lines += ["<details><summary>Policy</summary>", "",
              "| kind | prune | live | left alone | protect | ignore_fields |",
              "| --- | --- | ---: | ---: | --- | --- |"]
    lines += [f"| {k.section} | {prose(h.policy)} | {h.live} | {h.left_alone} "
              f"| {', '.join(code(p, table=True) for p in h.protect) or '—'} "
              f"| {prose(', '.join(h.ignore_fields)) or '—'} |" for k, h in plan.kinds.items()]
    lines += ["", "</details>", ""]
    if plan.warnings:
        lines += ["#### Warnings", ""] + [f"- {prose(w)}" for w in plan.warnings] + [""]
    return "\n".join(lines)


def _change_rows(change: Change) -> list[str]:
    if not change.fields:
        return [f"| {_describe(change, table=True)} |  |  |  |"]
    rows = []
    for index, (name, field) in enumerate(change.fields.items()):
        what = _describe(change, table=True) if index == 0 else ""
        old = prose(value_text(field.old)) if change.action != "create" else ""
        rows.append(f"| {what} | {prose(name)} | {old} | {prose(value_text(field.new))} |")
    return rows


def _units(text: str) -> int:
    """Length as GitHub counts it (UTF-16 code units: an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def _cut(line: str, budget: int) -> list[str]:
    """A line longer than a part can hold, in pieces that fit. Our own renderings never need
    this (values are shortened); it keeps any text within the limit."""
    pieces = []
    while _units(line) > budget:
        piece = line[:budget]
        while _units(piece) > budget:
            piece = piece[:len(piece) - (_units(piece) - budget)]
        trailing = len(piece) - len(piece.rstrip("\\"))
        if trailing % 2 and len(piece) > 1:  # never separate a backslash from what it escapes
            piece = piece[:-1]
        pieces.append(piece)
        line = line[len(piece):]
    return [*pieces, line]


def split_comments(text: str, limit: int = GITHUB_COMMENT_LIMIT) -> list[str]:
    """Split a rendering into comments of at most `limit` characters, cutting between lines.

    A cut inside a <details> block closes it and reopens it, with the table header repeated,
    in the next comment, so that every part renders on its own. A line longer than a part is
    cut too."""
    if _units(text) <= limit:
        return [text]
    reserve = 400  # room for the part heading and the re-opened block
    budget = limit - reserve
    parts: list[list[str]] = [[]]
    size = 0
    open_summary: str | None = None
    table_header: list[str] = []
    lines = [piece for line in text.splitlines() for piece in _cut(line, budget - 1)]
    for line in lines:
        length = _units(line) + 1
        if size + length > budget and parts[-1]:
            if open_summary is not None:
                parts[-1] += ["", "</details>"]
            parts.append([])
            size = 0
            if open_summary is not None:
                parts[-1] += [open_summary.replace("</summary>", " (continued)</summary>"), "", *table_header]
                size = sum(_units(x) + 1 for x in parts[-1])
        if line.startswith("<details>"):
            open_summary, table_header = line, []
        elif line.startswith("</details>"):
            open_summary, table_header = None, []
        elif open_summary is not None and line.startswith("|") and len(table_header) < 2:
            table_header.append(line)
        parts[-1].append(line)
        size += length
    total = len(parts)
    return [f"### ClickTime plan (part {n} of {total})\n\n" + "\n".join(lines).removeprefix("### ClickTime plan\n\n")
            + "\n" for n, lines in enumerate(parts, 1)]
