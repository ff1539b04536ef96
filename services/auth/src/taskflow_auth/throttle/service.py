"""Log-in throttling and per-address caps, on the counters of adapters.py.

The log-in rule (OWASP's credential-stuffing guidance: nobody elsewhere can lock an
account's owner out, and one address cannot try many accounts):

- one account from one address: at most ``per_account_address`` attempts that did not
  succeed per window (counted before the password is checked, so attempts fired
  together cannot overshoot); a success clears it;
- one address, any accounts: at most ``per_address`` attempts that did not succeed
  per window, except for accounts that have signed in from this address before;
- one account, all addresses: past ``per_account`` failures in a window, addresses
  the account never signed in from share one attempt per ``account_slowdown_seconds``
  (a delay, not a lock); addresses it signed in from before go on as usual.

The account is the user id when the name or email belongs to one (so both count
together), else the normalized name; an IPv6 address counts by its /64.

``Retry-After`` is what is left of the window that refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskflow_auth.config import AuthSettings
from taskflow_auth.throttle.adapters import FailureCounter
from taskflow_auth.throttle.rules import address_key


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginAttempt:
    account: str
    address: str
    # The account signed in from this address before: the address limit does not apply.
    known: bool


@dataclass
class LoginThrottle:
    """The log-in rule in this module's docstring; ``account`` is the caller's stable
    key for the account (the user id, or the normalized name nobody holds)."""

    counter: FailureCounter
    per_account_address: int = 5
    per_address: int = 20
    per_account: int = 10
    account_slowdown_seconds: int = 30
    window_seconds: int = 900
    known_address_seconds: int = 30 * 86_400

    @classmethod
    def from_settings(cls, counter: FailureCounter, settings: AuthSettings) -> LoginThrottle:
        return cls(
            counter,
            per_account_address=settings.login_failures_per_account_address,
            per_address=settings.login_failures_per_address,
            per_account=settings.login_failures_per_account,
            account_slowdown_seconds=settings.login_account_slowdown_seconds,
            window_seconds=settings.login_throttle_window_seconds,
            known_address_seconds=settings.login_known_address_days * 86_400,
        )

    async def begin(self, account: str, address: str) -> LoginAttempt:
        """Count the attempt as failed until ``succeeded`` says otherwise; LoginThrottled
        when it must wait. Counting first means requests fired together cannot all
        pass a check made before any of them failed."""
        address = address_key(address)
        pair, pair_left = await self.counter.hit(f"pair:{account}|{address}", self.window_seconds)
        if pair > self.per_account_address:
            raise LoginThrottled(pair_left)
        known = (await self.counter.peek(f"known:{account}|{address}"))[0] > 0
        attempt = LoginAttempt(account, address, known)
        if known:
            return attempt
        tried, address_left = await self.counter.hit(f"ip:{address}", self.window_seconds)
        if tried > self.per_address:
            raise LoginThrottled(address_left)
        failures, _ = await self.counter.peek(f"account:{account}")
        if failures >= self.per_account:
            # Under attack from many addresses: new addresses share one attempt per
            # interval, so the owner still gets in, just not at once.
            turn, turn_left = await self.counter.hit(
                f"turn:{account}", self.account_slowdown_seconds
            )
            if turn > 1:
                raise LoginThrottled(turn_left)
        return attempt

    async def withdraw(self, attempt: LoginAttempt) -> None:
        """The attempt ended before its password was checked (the service was too busy):
        what ``begin`` counted is given back."""
        await self.counter.hit(f"pair:{attempt.account}|{attempt.address}", self.window_seconds, -1)
        if not attempt.known:
            await self.counter.hit(f"ip:{attempt.address}", self.window_seconds, -1)

    async def failed(self, attempt: LoginAttempt) -> None:
        await self.counter.hit(f"account:{attempt.account}", self.window_seconds)
        if attempt.known:
            await self.counter.hit(f"ip:{attempt.address}", self.window_seconds)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        await self.counter.clear(f"pair:{attempt.account}|{attempt.address}")
        if not attempt.known:
            await self.counter.hit(f"ip:{attempt.address}", self.window_seconds, -1)
        # Renewed on every success: known for that long after the last sign-in.
        known = f"known:{attempt.account}|{attempt.address}"
        await self.counter.clear(known)
        await self.counter.hit(known, self.known_address_seconds)


@dataclass
class PerAddressCap:
    """At most ``limit`` requests of one ``kind`` per address and window: for emails
    sent on request (password reset, verification), so that no client address, and
    no recipient address, gets a flood. ``address`` is a client IP or an email."""

    counter: FailureCounter
    kind: str
    limit: int
    window_seconds: int = 3600

    async def allow(self, address: str) -> bool:
        """Count this request; False once the address is over its cap."""
        key = f"cap:{self.kind}:{address_key(address.strip().lower())}"
        count, _ = await self.counter.hit(key, self.window_seconds)
        return count <= self.limit
