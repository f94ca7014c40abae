"""The service's clock: the system's by default, a movable one for tests, guarded from misuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aval.service.clock import SYSTEM_CLOCK, ClockFileRefused, FileClock, MovableClock
from aval.service.runtime.server import StartupError, clock_of
from aval.service.settings import Settings


def clock_file(folder: Path, text: str = "0") -> Path:
    path = folder / "clock"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_the_system_clock_is_the_default() -> None:
    assert clock_of(Settings()) is SYSTEM_CLOCK
    before = datetime.now(UTC)
    assert before <= SYSTEM_CLOCK.now() <= datetime.now(UTC)


def test_a_movable_clock_only_moves_forward() -> None:
    clock = MovableClock()
    clock.advance(3600)
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=59)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_the_file_clock_adds_the_offset_and_never_goes_back(tmp_path: Path) -> None:
    path = clock_file(tmp_path, "7200")
    clock = FileClock(path, "127.0.0.1:0")
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=119)
    for ignored in ("-1", "0", "nan", "inf", "1e300", "deux heures", ""):
        path.write_text(ignored, encoding="utf-8")
        assert clock.now() - datetime.now(UTC) > timedelta(minutes=119), ignored
    path.unlink()  # an unreadable file keeps the last offset too
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=119)


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "localhost:50051", "[::1]:50051"])
def test_the_file_clock_is_allowed_on_loopback(tmp_path: Path, listen: str) -> None:
    FileClock(clock_file(tmp_path), listen)


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "[::]:50051", "10.1.2.3:443", "gw:50051"])
def test_the_file_clock_is_refused_on_an_address_others_reach(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ClockFileRefused, match="loopback"):
        FileClock(clock_file(tmp_path), listen)
    settings = Settings(listen=listen, test_clock_file=clock_file(tmp_path))
    with pytest.raises(StartupError, match="AVAL_TEST_CLOCK_FILE"):
        clock_of(settings)


def test_the_file_clock_is_refused_if_others_may_write_it(tmp_path: Path) -> None:
    path = clock_file(tmp_path)
    for mode in (0o620, 0o602):
        path.chmod(mode)
        with pytest.raises(ClockFileRefused, match="writable by no one else"):
            FileClock(path, "127.0.0.1:0")
    with pytest.raises(ClockFileRefused, match="AVAL_TEST_CLOCK_FILE"):
        FileClock(tmp_path / "missing", "127.0.0.1:0")
