"""Credentials of plant connections: a user file (user name, then password, readable by
its owner only) and private key files, checked before they are read.

Errors name the file and what is wrong with it, never its content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from xrclient.errors import XRClientError

MAX_USER_FILE_BYTES = 4096
MAX_USER_CHARS = 256
MAX_PASSWORD_BYTES = 1024


class GatewayError(XRClientError):
    """A plant connection cannot be made as configured (the message says why)."""


class CredentialsError(GatewayError, ValueError):
    """A user file or key file that is missing, unreadable, too open or malformed."""


def check_private(path: Path, what: str) -> os.stat_result:
    try:
        st = path.stat()
    except OSError as e:
        raise CredentialsError(f"cannot read the {what} {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CredentialsError(f"the {what} {path} is not a regular file")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"the {what} {path} may be read by others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run chmod 600 {path}"
        )
    return st


def read_user_file(path: Path) -> tuple[str, str]:
    """The user and password from ``path``: two lines, the file readable only by its owner.
    Errors name the file, never its content."""
    st = check_private(path, "user file")
    if st.st_size > MAX_USER_FILE_BYTES:
        raise CredentialsError(f"the user file {path} is larger than {MAX_USER_FILE_BYTES} bytes")
    try:
        raw = path.read_bytes()[: MAX_USER_FILE_BYTES + 1]
    except OSError as e:
        raise CredentialsError(f"cannot read the user file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialsError(f"the user file {path} is not UTF-8 text") from None
    lines = text.splitlines()
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) != 2 or not lines[0]:
        raise CredentialsError(f"the user file {path} must hold two lines: the user, the password")
    user, password = lines
    if len(user) > MAX_USER_CHARS or any(not c.isprintable() for c in user):
        raise CredentialsError(f"the user in {path} is too long or holds control characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise CredentialsError(f"the password in {path} is longer than {MAX_PASSWORD_BYTES} bytes")
    return user, password
