"""The sign-in throttle's rule: how long someone waits after wrong passwords (pure, no I/O).

Wrong passwords (and wrong second-factor codes) are counted three ways, and each count has a
growing wait once it passes its free allowance:

- `pair`, one account from one address: 3 free, then 5 s, 10 s, 20 s ... up to 15 minutes.
  Whoever is guessing one person's password from one place slows down fast.
- `address`, one address for any accounts: 20 free (an office shares one address), then
  2 s, 4 s ... up to 15 minutes. Trying many accounts from one place slows down too.
- `account`, one account from anywhere: 10 free, then 1 s, 2 s ... never more than 30 s.
  Guessing from many places at once still slows down, but only gently: these failures are
  not the account owner's, so they must never lock the owner out. And an address the
  account has signed in from before is not held up by this count at all.

So wrong passwords typed in one place hold up that place, never the real user elsewhere.
A count starts again after an hour without failures; a successful sign-in clears its pair
(not the address: one good account must not wipe out a guessing spree from that address).
Attempts refused while a wait lasts are not counted: the password is not even checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

PAIR, ADDRESS, ACCOUNT = "pair", "address", "account"


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed before any wait
    base_s: int  # the first wait
    cap_s: int  # no wait is longer

    def wait_s(self, failures: int) -> int:
        """The wait after the `failures`-th failure in a row."""
        if failures <= self.free:
            return 0
        return min(self.cap_s, self.base_s * 2 ** min(failures - self.free - 1, 30))


RULES = {
    PAIR: Rule(free=3, base_s=5, cap_s=15 * 60),
    ADDRESS: Rule(free=20, base_s=2, cap_s=15 * 60),
    ACCOUNT: Rule(free=10, base_s=1, cap_s=30),
}
FORGET_AFTER = timedelta(hours=1)
# An address the account signed in from within this time is its owner's: the account-wide
# count (strangers' failures) does not hold it up.
KNOWN_ADDRESS_FOR = timedelta(days=90)


def keys(username: str, address: str) -> dict[str, str]:
    """The three counters one attempt touches."""
    name = username.strip().lower()[:64]
    return {PAIR: f"{name}|{address}", ADDRESS: address, ACCOUNT: name}


def failures_now(previous: int, last_failure_at: datetime | None, now: datetime) -> int:
    """The count after one more failure: an old run of failures is forgotten."""
    if last_failure_at is None or now - last_failure_at > FORGET_AFTER:
        return 1
    return previous + 1


def blocked_until(kind: str, failures: int, now: datetime) -> datetime | None:
    wait = RULES[kind].wait_s(failures)
    return now + timedelta(seconds=wait) if wait else None


def is_known_address(last_success_at: datetime | None, now: datetime) -> bool:
    return last_success_at is not None and now - last_success_at <= KNOWN_ADDRESS_FOR


def seconds_to_wait(
    blocked: Mapping[str, datetime | None], known_address: bool, now: datetime
) -> int:
    """How long this attempt must wait (0: go ahead), from each counter's `blocked_until`."""
    waits = [0.0]
    for kind, until in blocked.items():
        if until is None or (kind == ACCOUNT and known_address):
            continue
        waits.append((until - now).total_seconds())
    longest = max(waits)
    return int(longest) + (1 if longest > int(longest) else 0)


def wait_words(seconds: int) -> str:
    """`seconds` as a person reads it: 45 秒, 3 分钟 (rounded up), 15 分钟."""
    if seconds < 60:
        return f"{max(seconds, 1)} 秒"
    return f"{(seconds + 59) // 60} 分钟"
