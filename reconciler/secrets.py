"""Secrets never leave the process: every text from a server is scrubbed before it is shown or kept.

A server, a proxy or a WAF may echo the request's credentials in an error body. Known secrets
(tokens, minted JWTs, workspace secrets) are registered when they are read and replaced wherever
they appear; anything shaped like a credential is masked as well.
"""

from __future__ import annotations

import re
import threading

_PATTERNS = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "<jwt>"),
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+|=)[\w.~+/=-]{8,}"), r"\1\2<secret>"),
    (re.compile(r'(?i)("[\w-]*(token|secret|password|apikey|api_key|credentials|authorization)[\w-]*"\s*:\s*)"[^"]*"'),
     r'\1"<secret>"'),
]
_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a credential so that scrub() removes it from any text, however it is framed."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def scrub(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "<secret>")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def known_secrets() -> list[str]:
    with _lock:
        return sorted(_known)
