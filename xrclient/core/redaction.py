"""Join tokens kept out of logs: the WebSocket library logs handshake headers at DEBUG."""

from __future__ import annotations

import logging
import re

from xrclient.core.session_codec import TOKEN_SUBPROTOCOL_PREFIX

_SECRETS = (
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(re.escape(TOKEN_SUBPROTOCOL_PREFIX) + r"[^\s,]+"), "xrsession.bearer.[redacted]"),
    (re.compile(r"\bxs1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "xs1.[redacted]"),
)


def redact(text: str) -> str:
    """``text`` with bearer tokens replaced by ``[redacted]``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    """Redacts tokens from records (the WebSocket library logs handshake headers at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def quiet_logger(name: str) -> logging.Logger:
    """A logger for a WebSocket connection that never shows a token."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
    return logger
