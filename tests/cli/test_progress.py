"""Progress: a status line on a TTY for steps that run long; nothing when piped or with JSON output."""

from __future__ import annotations

import io
import sys
import time

import pytest

from decisionform.cli import CliObserver


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run_step(observer: CliObserver, stream: io.StringIO) -> str:
    observer.progress("Reading the database")
    deadline = time.monotonic() + 10
    while "Reading the database" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    observer.close()
    return stream.getvalue()


def test_a_long_step_shows_on_a_tty_and_is_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = FakeTty()
    monkeypatch.setattr(sys, "stderr", stream)
    observer = CliObserver()
    observer.DELAY = 0.0  # "long" for the test: the step shows at the first tick
    text = _run_step(observer, stream)
    assert "Reading the database…" in text
    assert text.endswith("\r\x1b[K")  # closing erases the status line


@pytest.mark.parametrize("tty, quiet", [(False, False), (True, True)], ids=["piped", "json"])
def test_silent_when_piped_or_json(monkeypatch: pytest.MonkeyPatch, tty: bool, quiet: bool) -> None:
    stream = FakeTty() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    observer = CliObserver(quiet=quiet)
    observer.DELAY = 0.0
    observer.progress("Reading the database")
    time.sleep(3 * observer.TICK)
    observer.close()
    assert stream.getvalue() == ""


def test_a_short_step_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = FakeTty()
    monkeypatch.setattr(sys, "stderr", stream)
    observer = CliObserver()
    observer.DELAY = 3600.0
    observer.progress("Planning")
    observer.progress("Applying")
    observer.close()
    assert stream.getvalue() == ""
