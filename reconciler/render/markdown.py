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
