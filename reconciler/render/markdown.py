"""Markdown for a pull-request comment: counts first, destructive changes pinned on top."""

from __future__ import annotations

from reconciler.model import KINDS
from reconciler.plan import Change, Plan
from reconciler.render import summary_line, value_text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _describe(change: Change) -> str:
    if change.target is not None:
        return f"{change.action} {change.list_name[:-1] if change.list_name else ''} `{'/'.join(change.target)}` " \
               f"({'to' if change.action == 'assign' else 'from'} job `{'/'.join(change.key)}`)"
    return f"{change.action} {change.kind.value} `{'/'.join(change.key)}`"


def render(plan: Plan) -> str:
    lines = ["### ClickTime plan", "", f"**{summary_line(plan)}**", ""]
    counts = {a: n for a, n in plan.summary().items() if n}
    if counts:
        lines += ["| action | count |", "| --- | ---: |"] + [f"| {a} | {n} |" for a, n in counts.items()] + [""]
    destructive = [c for c in plan.changes if c.destructive]
    if destructive:
        lines += [f"#### :warning: Destructive changes ({len(destructive)})", ""]
        for change in destructive:
            notes = "".join(f" — {_cell(n)}" for n in change.notes)
            lines.append(f"- {_describe(change)}{notes}")
        lines.append("")
    for kind in KINDS:
        changes = [c for c in plan.changes if c.kind is kind and c.target is None]
        if changes:
            lines += [f"<details><summary>{kind.section.capitalize()} ({len(changes)})</summary>", "",
                      "| change | field | old | new |", "| --- | --- | --- | --- |"]
            for change in changes:
                fields = list(change.fields.items()) or [("", None)]
                for index, (name, field) in enumerate(fields):
                    what = _describe(change) if index == 0 else ""
                    old = value_text(field.old) if field is not None and change.action != "create" else ""
                    new = value_text(field.new) if field is not None else ""
                    lines.append(f"| {_cell(what)} | {_cell(name)} | {_cell(old)} | {_cell(new)} |")
            lines += ["", "</details>", ""]
    assignments = [c for c in plan.changes if c.target is not None]
    if assignments:
        lines += [f"<details><summary>Assignments ({len(assignments)})</summary>", ""]
        lines += [f"- {_describe(c)}" for c in assignments] + ["", "</details>", ""]
    lines += ["<details><summary>Policy</summary>", "",
              "| kind | prune | live | left alone | protect | ignore_fields |", "| --- | --- | ---: | ---: | --- | --- |"]
    lines += [f"| {k.section} | {h.policy} | {h.live} | {h.left_alone} | {_cell(', '.join(h.protect)) or '—'} "
              f"| {', '.join(h.ignore_fields) or '—'} |" for k, h in plan.kinds.items()]
    lines += ["", "</details>", ""]
    if plan.warnings:
        lines += ["#### Warnings", ""] + [f"- {_cell(w)}" for w in plan.warnings] + [""]
    return "\n".join(lines)


GITHUB_COMMENT_LIMIT = 65_536


def split_comments(text: str, limit: int = GITHUB_COMMENT_LIMIT) -> list[str]:
    """Split a rendering into comments of at most `limit` characters, cutting between lines.

    A cut inside a <details> block closes it and reopens it, with the table header repeated,
    in the next comment, so that every part renders on its own."""
    if len(text) <= limit:
        return [text]
    reserve = 400  # room for the part heading and the re-opened block
    parts: list[list[str]] = [[]]
    size = 0
    open_summary: str | None = None
    table_header: list[str] = []
    for line in text.splitlines():
        if size + len(line) + 1 > limit - reserve and parts[-1]:
            if open_summary is not None:
                parts[-1] += ["", "</details>"]
            parts.append([])
            size = 0
            if open_summary is not None:
                parts[-1] += [open_summary.replace("</summary>", " (continued)</summary>"), "", *table_header]
                size = sum(len(x) + 1 for x in parts[-1])
        if line.startswith("<details>"):
            open_summary, table_header = line, []
        elif line.startswith("</details>"):
            open_summary, table_header = None, []
        elif open_summary is not None and line.startswith("|") and len(table_header) < 2:
            table_header.append(line)
        parts[-1].append(line)
        size += len(line) + 1
    total = len(parts)
    return [f"### ClickTime plan (part {n} of {total})\n\n" + "\n".join(lines).removeprefix("### ClickTime plan\n\n")
            + "\n" for n, lines in enumerate(parts, 1)]
