"""The start-up pause of the garbage collector: off while the process starts, then what start-up
built is frozen (``gc.freeze``) and collection resumes."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterator

import pytest

from framework import startup_gc


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was: on, nothing frozen."""
    assert gc.isenabled() and gc.get_freeze_count() == 0
    try:
        yield
    finally:
        startup_gc.end_pause()
        gc.unfreeze()
        gc.enable()


def test_a_paused_start_up_is_frozen_when_it_ends(collector: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=startup_gc.__name__)
    startup_gc.pause()
    assert not gc.isenabled()
    built = [[index] for index in range(1_000)]  # long-lived objects made during start-up
    startup_gc.end_pause()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)
    logged = re.search(r"frozen out of garbage collection: (\d+)", caplog.text)
    assert logged is not None and int(logged.group(1)) >= len(built)
    gc.unfreeze()
    startup_gc.end_pause()  # once only
    assert gc.get_freeze_count() == 0


def test_without_a_pause_nothing_is_frozen_and_the_collector_is_left_as_it_was(collector: None) -> None:
    startup_gc.end_pause()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # turned off by someone else: not ours to turn on
    startup_gc.pause()
    startup_gc.end_pause()
    assert not gc.isenabled() and gc.get_freeze_count() == 0
