"""The dashboard from the command line: a real terminal (a pty), logging to a file, no terminal at all."""

from __future__ import annotations

import logging
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.store.db import Store
from monitor.ui.logs import LogBuffer, dashboard_logging

_CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")


def _read_until(fd: int, needles: tuple[bytes, ...], timeout: float) -> bytes:
    """What the program wrote, once every needle shows in it (escapes aside) or at the timeout."""
    out = b""
    deadline = time.monotonic() + timeout
    while not all(n in _CSI.sub(b"", out) for n in needles) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return out


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_monitor_dashboard_runs_in_a_terminal_and_quits_on_q(
    sample_store: Store, tmp_path: Path
) -> None:
    """`monitor dashboard --db URL` draws the store in a real terminal, logs to storage/, quits on q."""
    import fcntl
    import struct
    import termios

    main, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--db", sample_store.url, "dashboard"],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=tmp_path,
        env=env,
        close_fds=True,
    )
    os.close(child)
    try:
        needles = (
            b"reaction-monitor",
            b"russia-sanct",
            b"! reddit",
        )  # no feeds.yaml here: topics by name
        raw = _read_until(main, needles, 60)
        screen = _CSI.sub(b"", raw)
        assert all(n in screen for n in needles), screen[-2000:]
        # the OSC in reddit's error never got out
        assert b"pwned" not in raw and b"[bold red]no[/]" in screen
        os.write(main, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    assert (tmp_path / "storage" / "monitor.log").exists()


@pytest.mark.parametrize("command", [["dashboard"], ["run"]])
def test_without_a_terminal_the_dashboard_says_what_to_use(
    sample_store: Store, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "feeds.yaml").write_text(
        "topics:\n  - name: t\n    keywords: [x]\nsources: []\n", encoding="utf-8"
    )
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "--db", sample_store.url, *command],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "needs an interactive terminal" in r.stderr and "monitor run --headless" in r.stderr


def test_logging_goes_to_the_file_and_the_buffer_while_the_dashboard_is_up(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = root.handlers[:]
    buffer = LogBuffer(capacity=2)
    with dashboard_logging(tmp_path / "storage", buffer) as path:
        assert root.handlers == [root.handlers[0], buffer]  # nothing writes to the terminal
        for i in range(3):
            logging.getLogger("monitor.test").warning("record %d [bold]x[/]", i)
    assert root.handlers == before
    # bounded
    assert [e.message for e in buffer.since(0)] == [
        "record 1 [bold]x[/]",
        "record 2 [bold]x[/]",
    ]
    assert [e.seq for e in buffer.since(2)] == [3]
    assert "record 0 [bold]x[/]" in path.read_text(encoding="utf-8")
