"""Shared fixtures: stores on SQLite and on a real PostgreSQL, the simulator, configs.

PostgreSQL: the server named by MONITOR_TEST_PG_URL, else the one on 127.0.0.1:5432 (database
`test`, trust authentication, as on the development and CI machines). When neither answers the
PostgreSQL variants are skipped, and the reason is printed in the test summary.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_pg_checked: tuple[str | None, str] | None = None


def pg_base_url() -> tuple[str | None, str]:
    """(url, why-not) for the test PostgreSQL server, probed once per session."""
    global _pg_checked
    if _pg_checked is not None:
        return _pg_checked
    url = os.environ.get("MONITOR_TEST_PG_URL", DEFAULT_PG)
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                             dbname=u.database, connect_timeout=3):
            pass
        _pg_checked = (url, "")
    except Exception as exc:  # no driver, no server, wrong credentials
        _pg_checked = (None, f"no PostgreSQL at {url.split('@')[-1]} ({type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no answer'}); "
                             f"set MONITOR_TEST_PG_URL to run the PostgreSQL tests")
    return _pg_checked


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base, why = pg_base_url()
    if base is None:
        pytest.skip(why)
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    u = make_url(base)
    conninfo = dict(host=u.host, port=u.port or 5432, user=u.username, password=u.password, dbname=u.database)
    with psycopg.connect(**conninfo, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from sqlalchemy import create_engine  # noqa: F401  (engines are disposed by the tests)

        with psycopg.connect(**conninfo, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/monitor.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/monitor.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str):
    from monitor.store import Store

    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def simulator():
    from monitor.simulate import Simulator

    with Simulator() as sim:
        yield sim


def pytest_report_header(config: pytest.Config) -> str:
    url, why = pg_base_url()
    return f"postgresql: {url.split('@')[-1] if url else 'not available: ' + why}"
