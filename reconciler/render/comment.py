"""Pull-request comment bodies: the sticky plan comment, its error form, and the apply summary.

A sticky comment starts with a hidden marker line, `<!-- reconciler:ID -->`, by which a workflow
finds the comment it posted before and edits it instead of adding another. The marker ID is
checked to be plain (letters, digits, `.`, `_`, `-`), so no value can close the HTML comment.
Everything else in a body is escaped the way the Markdown plan is (`prose`, `code`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.render.markdown import GITHUB_COMMENT_LIMIT, code, prose, split_comments
from reconciler.render.redact import mask_emails

MARKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_marker(marker: str) -> str:
    if not MARKER_ID.fullmatch(marker):
        raise ValueError(f"{marker!r} is not a marker ID: use up to 64 letters, digits, '.', '_' or '-'")
    return marker


def marker_line(marker: str) -> str:
    return f"<!-- reconciler:{check_marker(marker)} -->"


def plan_body(marker: str, markdown: str, more: str = "") -> str:
    """One comment: the marker, then the Markdown plan, cut at a part boundary when it does not
    fit one comment (`more` says where the rest is)."""
    head = marker_line(marker) + "\n"
    parts = split_comments(markdown, GITHUB_COMMENT_LIMIT - len(head) - 600)
    if len(parts) == 1:
        return head + markdown
    tail = f"\n**This plan is longer than one comment: part 1 of {len(parts)} is shown.** {prose(more)}\n"
    return head + parts[0] + tail


def error_body(marker: str, title: str, lines: Sequence[str], summary: str, redact: bool) -> str:
    """A failure as a comment: what failed and each problem, escaped (and emails masked)."""
    def shown(text: str) -> str:
        return prose(mask_emails(text) if redact else text)

    body = [marker_line(marker), f"### {title}", "", f"**{shown(summary)}**", ""]
    body += [f"- {shown(line)}" for line in lines]
    return "\n".join(body).rstrip() + "\n"


def apply_body(marker: str | None, applied: Sequence[str], failed: Sequence[tuple[str, str]],
               skipped: Sequence[tuple[str, str]], problem: str, next_steps: str, commit: str, redact: bool) -> str:
    """The result of an apply: counts, each failure and skip with its reason, and what to do next
    (`next_steps`: Markdown this tool wrote, shown as it is)."""
    def shown(text: str) -> str:
        return prose(mask_emails(text) if redact else text)

    ok = not failed and not problem
    body = [marker_line(marker)] if marker else []
    body += [f"### ClickTime apply {'succeeded' if ok else 'did not finish'}", ""]
    if commit:
        body += [f"Plan made from commit {code(commit)}.", ""]
    body += [f"**{len(applied)} applied, {len(failed)} failed, {len(skipped)} skipped.**", ""]
    if problem:
        body += [f"Stopped: {shown(problem)}", ""]
    if failed:
        body += ["#### Failed", ""] + [f"- {shown(label)}: {shown(why)}" for label, why in failed] + [""]
    if skipped:
        body += ["#### Skipped", ""] + [f"- {shown(label)}: {shown(why)}" for label, why in skipped] + [""]
    if not ok and next_steps:
        body += ["#### What next", "", next_steps, ""]
    listed = [f"<details><summary>Applied ({len(applied)})</summary>", ""] + [
        f"- {shown(label)}" for label in applied] + ["", "</details>", ""] if applied else []
    text = "\n".join(body + listed)
    if len(text.encode("utf-16-le")) // 2 > GITHUB_COMMENT_LIMIT:  # the list of applied changes goes first
        text = "\n".join(body)
    return text
