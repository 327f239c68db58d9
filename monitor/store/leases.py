"""Source leases: several collectors can share one database, and each source is polled by one.

A collector owns a source while `source_state.lease_owner` names it and `lease_expires_at` is in
the future. Taking a lease is one conditional UPDATE (free, expired, or already ours), which both
databases make atomic: PostgreSQL re-checks the condition on the row a concurrent taker just
committed, SQLite has one writer at a time. A running collector renews its leases well before
they expire; one that dies simply stops renewing, and after `LEASE_TTL` another takes over where
the stored cursor left off. A clean stop hands its sources back at once.

Expiry is a comparison of times written by different collectors, so they must read one clock:
on PostgreSQL (where collectors on several machines meet) that is the server's `now()`, so a
collector whose own clock is off cannot take a live lease or lose its own early; SQLite is only
shared on one machine, whose clock every collector reads.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, or_, select, update
from sqlmodel import col

from monitor.store.db import Store, utcnow
from monitor.store.models import SourceState

__all__ = ["LEASE_TTL", "Leases", "collector_id", "dead_here"]

LEASE_TTL = timedelta(seconds=90)


def collector_id() -> str:
    """Unique per process and readable in `monitor status`: host, pid and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def dead_here(owner: str) -> bool:
    """True when `owner` (host:pid:tag) names a process of this machine that is gone.

    Only a definite "no such process" (or a zombie, which will never renew) counts: a pid we may
    not signal belongs to a live process, and anything unreadable is left to the TTL.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid() or pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    try:  # a zombie (killed, not yet reaped by its parent) still answers signal 0
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class Leases:
    """`clock=None` (what a collector uses) reads the database's clock; tests pass their own."""

    def __init__(
        self,
        store: Store,
        owner: str,
        clock: Callable[[], datetime] | None = None,
        ttl: timedelta = LEASE_TTL,
    ):
        self.store = store
        self.owner = owner
        self.clock = clock
        self.ttl = ttl

    def _now(self, conn: Connection) -> datetime:
        if self.clock is not None:
            return self.clock()
        if conn.dialect.name == "postgresql":
            return conn.execute(select(func.now())).scalar_one()
        return utcnow()

    def acquire(self, source: str) -> bool:
        """Take (or renew) the lease on `source`; False while another live collector holds it.

        A lease held by a process of this very machine that no longer exists (a collector that
        crashed and was restarted) is taken at once instead of after the TTL.
        """
        with self.store.write() as conn:
            now = self._now(conn)
            holder = conn.execute(
                select(col(SourceState.lease_owner)).where(col(SourceState.source) == source)
            ).scalar()
            free = [
                col(SourceState.lease_owner).is_(None),
                col(SourceState.lease_owner) == self.owner,
                col(SourceState.lease_expires_at).is_(None),
                col(SourceState.lease_expires_at) < now,
            ]
            if holder and holder != self.owner and dead_here(holder):
                free.append(col(SourceState.lease_owner) == holder)
            result = conn.execute(
                update(SourceState)
                .where(col(SourceState.source) == source, or_(*free))
                .values(lease_owner=self.owner, lease_expires_at=now + self.ttl)
            )
            return result.rowcount == 1

    def renew(self) -> set[str]:
        """Extend every lease this collector still holds; returns those sources."""
        with self.store.write() as conn:
            now = self._now(conn)
            conn.execute(
                update(SourceState)
                .where(col(SourceState.lease_owner) == self.owner)
                .values(lease_expires_at=now + self.ttl)
            )
            return set(
                conn.execute(
                    select(col(SourceState.source)).where(
                        col(SourceState.lease_owner) == self.owner
                    )
                ).scalars()
            )

    def release(self) -> None:
        """Hand every source back (a clean stop), so another collector need not wait."""
        with self.store.write() as conn:
            conn.execute(
                update(SourceState)
                .where(col(SourceState.lease_owner) == self.owner)
                .values(lease_owner=None, lease_expires_at=None)
            )
