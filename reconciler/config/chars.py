"""Characters that hostile text uses to hide or disguise itself, and how to show them harmlessly.

Names and keys come from pull requests and from whoever can edit the account. Shown raw, a
control character can move a terminal's cursor or set its title, a bidi override can reorder
what a reviewer reads, and a zero-width character can make two keys look the same.
"""

from __future__ import annotations

import unicodedata

# What visible() escapes: C0/C1 controls and DEL, format characters (zero-width, bidi
# controls, soft hyphen, tags), line and paragraph separators, lone surrogates.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def unsafe(char: str) -> bool:
    """Whether visible() escapes the character."""
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _escape(char: str) -> str:
    return _code(char) if unsafe(char) else char


def _code(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """`text` with every control, format or separator character written as an escape (`\\x1b`,
    `\\u202e`, `\\n`), so that it cannot act on a terminal or reorder what is read."""
    if text.isprintable():  # the common case, checked in C
        return text
    return "".join(map(_escape, text))


def escaped(text: str) -> str:
    """Like visible(), but every character str.isprintable() rejects is escaped (a no-break
    space too): for messages that must show exactly where a key differs from another."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _code(c) for c in text)


def hidden_character(text: str) -> str | None:
    """The first character of a key that is not plainly visible (control, format, separator
    other than the space, private use, unassigned), described for a message; None if none."""
    if text.isprintable():
        return None
    char = next(c for c in text if not c.isprintable())
    name = unicodedata.name(char, "")
    what = f" {name}" if name else ""
    return f"U+{ord(char):04X}{what}"


def nfc(text: str) -> str:
    """Unicode NFC: the same visible text always gives the same key."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)
