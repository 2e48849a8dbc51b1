"""Terminal rendering: grouped by kind, field-level old -> new, coloured when asked.

Keys, notes, warnings and patterns are shown through `visible`, so that no value can move the
cursor, rewrite a line, set the window title or reorder text; the only escape sequences in the
output are the colours added here.
"""

from __future__ import annotations

import click

from reconciler.model import KINDS
from reconciler.plan import Change, Plan
from reconciler.render import SYMBOLS, summary_line, value_text, visible

COLORS = {"create": "green", "update": "yellow", "reactivate": "cyan", "deactivate": "red", "delete": "red",
          "assign": "green", "unassign": "red"}


def _key(parts: tuple[str, ...]) -> str:
    return visible("/".join(parts))


def header_lines(plan: Plan) -> list[str]:
    lines = [f"Backend: {visible(plan.backend)}"]
    if plan.commit:
        lines.append(f"Commit: {visible(plan.commit)}")
    if plan.partial:
        lines.append(f"Partial plan: only {visible(', '.join(plan.partial))}; the rest of the account is left alone")
    for kind, header in plan.kinds.items():
        lines.append(f"  {kind.section:<8} prune: {visible(header.policy):<10} live: {header.live:<6} "
                     f"left alone: {header.left_alone}")
        if header.protect:
            lines.append(f"           protect: {visible(', '.join(header.protect))} "
                         f"({header.protected_skipped} change(s) held back)")
        if header.ignore_fields:
            lines.append(f"           ignore_fields: {visible(', '.join(header.ignore_fields))}")
    return lines


def change_lines(change: Change, style: Styler) -> list[str]:
    head = f"  {SYMBOLS[change.action]} {change.action} {change.kind.value} {_key(change.key)}"
    if change.target is not None:
        verb = "to" if change.action == "assign" else "from"
        head = f"  {SYMBOLS[change.action]} {change.action} {(change.list_name or '')[:-1]} {_key(change.target)} " \
               f"{verb} job {_key(change.key)}"
        return [style(head, change.action)]
    lines = [style(head, change.action)]
    for name, field in change.fields.items():
        if change.action == "create":
            lines.append(f"      {visible(name)}: {value_text(field.new)}")
        elif change.action in ("update", "reactivate", "deactivate"):
            lines.append(f"      {visible(name)}: {value_text(field.old)} -> {value_text(field.new)}")
    for note in change.notes:
        lines.append(style(f"      note: {visible(note)}", "note"))
    return lines


class Styler:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, action: str) -> str:
        if not self.color:
            return text
        if action == "note":
            return click.style(text, dim=True)
        return click.style(text, fg=COLORS.get(action))


def render(plan: Plan, color: bool = False) -> str:
    style = Styler(color)
    lines = header_lines(plan)
    for kind in KINDS:
        changes = [c for c in plan.changes if c.kind is kind and c.target is None]
        if changes:
            lines += ["", f"{kind.section.capitalize()}:"]
            for change in changes:
                lines += change_lines(change, style)
    assignments = [c for c in plan.changes if c.target is not None]
    if assignments:
        lines += ["", "Assignments:"]
        for change in assignments:
            lines += change_lines(change, style)
    if plan.warnings:
        lines += ["", "Warnings:"]
        lines += [style(f"  ! {visible(w)}", "update") for w in plan.warnings]
    lines += ["", summary_line(plan)]
    return "\n".join(lines) + "\n"
