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
        with psycopg.connect(
            host=u.host,
            port=u.port or 5432,
            user=u.username,
            password=u.password,
            dbname=u.database,
            connect_timeout=3,
        ):
            pass
        _pg_checked = (url, "")
    except Exception as exc:  # no driver, no server, wrong credentials
        started = _start_private_postgres()
        if started:
            _pg_checked = (started, "")
        else:
            _pg_checked = (
                None,
                f"no PostgreSQL at {url.split('@')[-1]} ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no answer'}) "
                f"and no PostgreSQL binaries to start one; "
                f"set MONITOR_TEST_PG_URL to run the PostgreSQL tests",
            )
    return _pg_checked


def _start_private_postgres() -> str | None:
    """Start a throw-away server from the installed binaries, when there are any.

    initdb refuses to run as root, so as root it runs as the `postgres` user (which the Debian
    packages create). The server lives in a temporary folder and is stopped at exit.
    """
    import atexit
    import glob
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = bins[-1] if bins else shutil.which("initdb")
    if not initdb:
        return None
    pg_ctl = os.path.join(os.path.dirname(initdb), "pg_ctl")
    prefix: list[str] = []
    folder = tempfile.mkdtemp(prefix="monitor-pg-")
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
            prefix = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        data = os.path.join(folder, "data")
        subprocess.run(
            [*prefix, initdb, "-D", data, "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                data,
                "-w",
                "-l",
                os.path.join(folder, "log"),
                "-o",
                f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                os.path.join(os.path.dirname(initdb), "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "test",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except Exception:
        return None
    atexit.register(
        lambda: subprocess.run(
            [*prefix, pg_ctl, "-D", data, "-m", "fast", "stop"], capture_output=True, timeout=60
        )
    )
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"


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
    conninfo = dict(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, dbname=u.database
    )
    with psycopg.connect(**conninfo, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
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
    from monitor.store.db import Store

    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def simulator():
    from monitor.simulator.server import Simulator

    with Simulator() as sim:
        yield sim


@pytest.fixture
def sim(simulator):
    """The simulator frozen an hour after the day-2 burst: plenty published, nothing moving."""
    from monitor.simulator.corpus import BURST_WINDOW

    simulator.clock.set_offset(BURST_WINDOW[1] + 3600)
    simulator.clock.pause()
    return simulator


@pytest.fixture
def http():
    """The client every polled source uses, with a short timeout for tests."""
    from monitor.sources.http import make_client

    with make_client(timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory):
    """The fixed store every dashboard test and snapshot reads (tests/ui_support.py)."""
    from ui_support import build_sample_store

    store = build_sample_store(f"sqlite:///{tmp_path_factory.mktemp('ui') / 'sample.db'}")
    yield store
    store.close()


@pytest.fixture
def provider(sample_store):
    from ui_support import sample_provider

    return sample_provider(sample_store)


def pytest_report_header(config: pytest.Config) -> str:
    url, why = pg_base_url()
    return f"postgresql: {url.split('@')[-1] if url else 'not available: ' + why}"
