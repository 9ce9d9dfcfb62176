"""Passwords: argon2id hashes (argon2-cffi) and the rule a new password must meet.

Parameters are OWASP's recommended minimum for argon2id (19 MiB, 2 passes, 1 lane): a hash
takes tens of milliseconds, so guessing offline from a stolen table is slow while a web
worker can still check a sign-in quickly. A hash made with older parameters is replaced at
the next successful sign-in (`needs_rehash`). An unknown username is checked against a dummy
hash, so it costs the same time as a wrong password and does not reveal who has an account.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 128

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY = _hasher.hash("yiyang-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no such account, checked against a dummy
    so the answer takes as long)."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def problem(password: str, username: str) -> str | None:
    """What is wrong with a new password, in plain Chinese; None when it may be used."""
    if len(password) < MIN_LENGTH:
        return f"密码至少要 {MIN_LENGTH} 个字符。"
    if len(password) > MAX_LENGTH:
        return f"密码不能超过 {MAX_LENGTH} 个字符。"
    if username and username.lower() in password.lower():
        return "密码里不能包含用户名。"
    if len(set(password)) < 4:
        return "密码太简单了，请混合使用字母和数字。"
    return None
