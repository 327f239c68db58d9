"""Faults of the machine and the database, in words, said once.

A collector that runs for months meets a full disk or a database that went away. Logging the
traceback of every failed write (850 a minute on a full disk) buries the one line that matters;
here each fault gets a sentence ("the disk is full"), is logged when it starts and when it
clears, and is kept where `monitor status` and feed health can show it.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from dataclasses import dataclass

__all__ = ["DISK_FULL", "Fault", "FaultLog", "classify", "describe"]

DISK_FULL = "disk_full"
DB_DOWN = "database_unreachable"
READ_ONLY = "read_only"
OTHER = "store_error"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # disk_full | database_unreachable | read_only | store_error
    message: str  # the sentence a person reads


def _chain(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        out.append(cur)
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    return out


def classify(exc: BaseException) -> Fault:
    """What went wrong with a write, in a sentence; `kind` groups faults that are logged once."""
    for e in _chain(exc):
        text = str(e).lower()
        code = getattr(e, "sqlite_errorcode", None)
        sqlstate = getattr(e, "sqlstate", None) or getattr(
            getattr(e, "diag", None), "sqlstate", None
        )
        if (
            code == 13
            or "database or disk is full" in text
            or sqlstate == "53100"
            or "no space left on device" in text
            or getattr(e, "errno", None) == errno.ENOSPC
        ):
            return Fault(
                DISK_FULL, "the disk is full: the store cannot take new data until space is freed"
            )
        if code == 8 or "readonly database" in text or "read-only" in text or sqlstate == "25006":
            return Fault(READ_ONLY, "the store is read-only (file permissions or a read-only disk)")
        if (
            (sqlstate is not None and sqlstate.startswith("08"))
            or "connection refused" in text
            or "could not connect" in text
            or "server closed the connection" in text
            or "connection is closed" in text
            or "terminating connection" in text
        ):
            return Fault(DB_DOWN, "the database cannot be reached")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return Fault(
        OTHER, f"the store failed ({type(exc).__name__}{': ' + first[:300] if first else ''})"
    )


def describe(exc: BaseException) -> str:
    """One line for any exception a command did not expect: store faults in words, else its type."""
    fault = classify(exc)
    if fault.kind != OTHER:
        return fault.message
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected {type(exc).__name__}" + (f": {first[:300]}" if first else "")


class FaultLog:
    """Log a fault once when it starts, a reminder at most every `remind_s`, and once when it clears.

    Thread-safe: every poll job of a collector reports into one instance.
    """

    def __init__(self, logger: logging.Logger, remind_s: float = 600.0):
        self.log = logger
        self.remind_s = remind_s
        self._lock = threading.Lock()
        # kind -> (fault, last said, repeats)
        self._active: dict[str, tuple[Fault, float, int]] = {}

    def failed(self, exc: BaseException, doing: str) -> Fault:
        fault = classify(exc)
        now = time.monotonic()
        with self._lock:
            known = self._active.get(fault.kind)
            if known is None:
                self._active[fault.kind] = (fault, now, 0)
                say, repeats = True, 0
            else:
                _f, said, repeats = known
                say = now - said >= self.remind_s
                self._active[fault.kind] = (fault, now if say else said, 0 if say else repeats + 1)
        if say:
            more = f" ({repeats} more failed writes since the last message)" if repeats else ""
            self.log.error(
                "%s (while %s); will keep retrying%s",
                fault.message,
                doing,
                more,
                exc_info=fault.kind == OTHER and known is None,
            )
        return fault

    def ok(self) -> None:
        with self._lock:
            cleared = list(self._active.values())
            self._active.clear()
        for fault, _said, _n in cleared:
            self.log.warning(
                "the store accepts writes again (it was: %s)", fault.message.split(":")[0]
            )

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return [f for f, _s, _n in self._active.values()]
