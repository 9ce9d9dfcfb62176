"""The pure rules of sign-in: TOTP codes (RFC 6238 / RFC 4226 test vectors), the throttle's
waits, what a new password must be. No database."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.service import passwords, throttle, totp

RFC_KEY = b"12345678901234567890"  # RFC 4226 appendix D, RFC 6238 appendix B (SHA-1)


def test_hotp_matches_rfc_4226_appendix_d():
    expected = [
        "755224", "287082", "359152", "969429", "338314",
        "254676", "287922", "162583", "399871", "520489",
    ]  # fmt: skip
    assert [totp.hotp(RFC_KEY, counter) for counter in range(10)] == expected


@pytest.mark.parametrize(
    "unix_time,code",
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_totp_matches_rfc_6238_appendix_b_sha1(unix_time, code):
    assert totp.hotp(RFC_KEY, totp.step_at(unix_time), digits=8) == code


def _secret() -> str:
    return base64.b32encode(RFC_KEY).decode()


def test_a_code_is_accepted_one_step_either_side_and_never_twice():
    secret, now = _secret(), 1_234_567_890.0
    current = totp.code_at(secret, now)
    step = totp.step_at(now)
    assert totp.verify(secret, current, now, None) == step
    assert totp.verify(secret, totp.code_at(secret, now - 30), now, None) == step - 1
    assert totp.verify(secret, totp.code_at(secret, now + 30), now, None) == step + 1
    assert totp.verify(secret, totp.code_at(secret, now - 60), now, None) is None  # too old
    assert totp.verify(secret, totp.code_at(secret, now + 60), now, None) is None
    assert totp.verify(secret, current, now, last_step=step) is None  # used already
    assert totp.verify(secret, totp.code_at(secret, now + 30), now, last_step=step) == step + 1
    for junk in ("", "12345", "1234567", "abcdef", "12 34 5x"):
        assert totp.verify(secret, junk, now, None) is None


def test_the_otpauth_uri_names_the_issuer_account_and_parameters():
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", "caiwu", "颐养")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == "/颐养:caiwu"
    query = parse_qs(parts.query)
    assert query == {
        "secret": ["JBSWY3DPEHPK3PXP"],
        "issuer": ["颐养"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }
    fresh = totp.new_secret()
    assert len(fresh) == 32 and len(base64.b32decode(fresh)) == 20  # 160 bits, no padding


NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_waits_grow_from_the_free_allowance_and_stop_at_the_cap():
    pair = throttle.RULES[throttle.PAIR]
    assert [pair.wait_s(n) for n in range(1, 9)] == [0, 0, 0, 5, 10, 20, 40, 80]
    assert pair.wait_s(60) == 15 * 60
    account = throttle.RULES[throttle.ACCOUNT]
    assert account.wait_s(10) == 0 and account.wait_s(11) == 1
    assert max(account.wait_s(n) for n in range(1, 1000)) == 30  # gentle, capped


@given(st.integers(min_value=0, max_value=10_000))
def test_the_account_wide_wait_never_exceeds_thirty_seconds(failures):
    assert 0 <= throttle.RULES[throttle.ACCOUNT].wait_s(failures) <= 30


def test_an_owner_at_a_known_address_is_not_held_up_by_strangers_failures():
    blocked = {
        throttle.ACCOUNT: NOW + timedelta(seconds=30),
        throttle.PAIR: None,
        throttle.ADDRESS: None,
    }
    assert throttle.seconds_to_wait(blocked, known_address=True, now=NOW) == 0
    assert throttle.seconds_to_wait(blocked, known_address=False, now=NOW) == 30
    blocked[throttle.PAIR] = NOW + timedelta(seconds=4.2)
    assert throttle.seconds_to_wait(blocked, known_address=True, now=NOW) == 5
    assert throttle.is_known_address(NOW - timedelta(days=89), NOW)
    assert not throttle.is_known_address(NOW - timedelta(days=91), NOW)
    assert not throttle.is_known_address(None, NOW)


def test_a_run_of_failures_is_forgotten_after_an_hour():
    assert throttle.failures_now(7, NOW - timedelta(minutes=59), NOW) == 8
    assert throttle.failures_now(7, NOW - timedelta(minutes=61), NOW) == 1
    assert throttle.failures_now(0, None, NOW) == 1


def test_wait_words_are_plain_chinese():
    assert throttle.wait_words(5) == "5 秒"
    assert throttle.wait_words(60) == "1 分钟"
    assert throttle.wait_words(61) == "2 分钟"
    assert throttle.wait_words(900) == "15 分钟"


def test_passwords_are_argon2id_and_new_ones_must_be_reasonable():
    stored = passwords.hash_password("correct-horse-9")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct-horse-9")
    assert not passwords.verify_password(stored, "correct-horse-8")
    assert not passwords.verify_password(None, "correct-horse-9")  # no such account
    assert not passwords.verify_password("scrypt$16384$x$y", "anything-at-all")
    assert passwords.problem("short", "laowang")
    assert passwords.problem("laowang-2026-x", "laowang")  # holds the username
    assert passwords.problem("aaaaaaaaaaaa", "laowang")
    assert passwords.problem("correct-horse-9", "laowang") is None
