"""Trying a manifest or blob again when the registry fails in a way that may pass.

Owns ``RetryPolicy`` (how many attempts, the back-off between them and the
time after which no new attempt starts, from ``RegistrySettings``) and
``Attempts``, the attempts at one manifest or blob: told how each failed
one ended, it waits before the next (exponential back-off, or the
registry's ``Retry-After``, both capped) or gives up with a
``RetriesExhausted`` that names what was pulled, the registry and the last
cause. Only transient failures are tried again (a dropped connection, a
stall, 5xx, 429); any other error is raised as it is. An attempt that
received new bytes of a blob does not count against the limit, as
containerd's resumable reader does: a large blob on a flaky link keeps
going for as long as it makes progress, within the time bound. This module
must not send requests: its callers do.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec

from pouch.config import RegistrySettings
from pouch.distribution._errors import RegistryUnavailable, RetriesExhausted

__all__ = ["Attempts", "Pause", "PullAttempts", "RetryPolicy", "retrying_in"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Waits before the next attempt (seconds); it may raise to abort the pull.
Pause = Callable[[float], None]


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """``attempts`` without progress per manifest or blob; ``delay`` doubled per
    failure up to ``delay_max``; no attempt after ``timeout`` seconds of failing."""

    attempts: int = 5
    delay: float = 1.0
    delay_max: float = 30.0
    timeout: float = 600.0

    @classmethod
    def from_settings(cls, settings: RegistrySettings) -> RetryPolicy:
        return cls(
            attempts=settings.max_download_attempts,
            delay=settings.retry_delay,
            delay_max=settings.retry_delay_max,
            timeout=settings.retry_timeout,
        )

    def backoff(self, failures: int, retry_after: float | None = None) -> float:
        """The wait after the ``failures``-th failure in a row (or what the registry asked)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.delay_max)
        doubled: float = self.delay * 2.0 ** max(failures - 1, 0)
        return min(doubled, self.delay_max)


def retrying_in(seconds: float) -> str:
    """Docker's progress status for a wait: "Retrying in 5 seconds"."""
    whole = max(1, math.ceil(seconds))
    return f"Retrying in {whole} second{'s' if whole != 1 else ''}"


class Attempts:
    """The attempts at one manifest or blob; ``what`` names it in the final error.

    ``what`` reads as the start of a sentence: "pulling REF: layer sha256:…".
    """

    def __init__(
        self,
        policy: RetryPolicy,
        what: str,
        pause: Pause = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.what = what
        self.made = 0
        self._pause = pause
        self._clock = clock
        self._in_a_row = 0
        self._first_failure: float | None = None

    def failed(self, exc: RegistryUnavailable, *, progressed: bool = False) -> None:
        """An attempt ended in ``exc``: wait for the next one, or raise.

        ``progressed``: the attempt received new bytes (it then does not count
        against the limit). Raises ``exc`` itself when it is not transient,
        ``RetriesExhausted`` when the attempts or the time are used up.
        """
        self.made += 1
        if not exc.transient:
            raise exc
        self._in_a_row = 1 if progressed else self._in_a_row + 1
        now = self._clock()
        if self._first_failure is None:
            self._first_failure = now
        if self._in_a_row >= self.policy.attempts:
            raise self._exhausted(exc) from exc
        delay = self.policy.backoff(self._in_a_row, exc.retry_after)
        if now + delay - self._first_failure > self.policy.timeout:
            raise self._exhausted(exc, now - self._first_failure) from exc
        log.warning(
            "%s: %s (attempt %d); trying again in %.1fs", self.what, exc.cause, self.made, delay
        )
        self._pause(delay)

    def run(self, call: Callable[[], _T]) -> _T:
        """``call()`` until it succeeds, as ``failed`` allows."""
        while True:
            try:
                return call()
            except RegistryUnavailable as exc:
                self.failed(exc)

    def _exhausted(self, last: RegistryUnavailable, spent: float | None = None) -> RetriesExhausted:
        tries = f"{self.made} attempt{'s' if self.made != 1 else ''}"
        within = f" in {spent:.0f}s" if spent is not None else ""
        where = f" to {last.host}" if last.host else ""
        if last.http_status == 429:
            advice = (
                "the registry is rate-limiting pulls; wait, log in "
                f"(`pouch login {last.host}`) or configure a registry mirror"
            )
        else:
            advice = "the registry may be down or overloaded, try again later"
        return RetriesExhausted(
            f"{self.what}: {last.cause} after {tries}{where}{within}; {advice}",
            attempts=self.made,
            last=last,
        )


class PullAttempts:
    """Makes the ``Attempts`` of each manifest and blob of one pull of ``name``."""

    def __init__(self, policy: RetryPolicy, name: str, pause: Pause) -> None:
        """``pause``: how the waits of those not given their own are spent."""
        self.policy = policy
        self.name = name
        self.pause = pause

    def of(self, what: str, pause: Pause | None = None) -> Attempts:
        """The attempts at ``what`` ("layer sha256:…")."""
        return Attempts(self.policy, f"pulling {self.name}: {what}", pause or self.pause)
