"""The start schedule every scale contender's load follows (benchmarks/schedule.py): starts spread
evenly over the period, no two at once; a page's streams together or a fraction of the period apart."""

from __future__ import annotations

import pytest

from benchmarks.schedule import PHASES, start_offset, starts_in_order

PAGES, STREAMS, SPREAD = 250, 4, 0.5


@pytest.mark.parametrize("phases", PHASES)
def test_every_start_falls_in_the_period_once_and_evenly(phases: str) -> None:
    offsets = sorted(start_offset(p, s, PAGES, STREAMS, SPREAD, phases) for p in range(PAGES) for s in range(STREAMS))
    assert len(set(offsets)) == PAGES * STREAMS
    assert 0 <= offsets[0] and offsets[-1] < SPREAD
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert min(gaps) == pytest.approx(max(gaps)) == pytest.approx(SPREAD / (PAGES * STREAMS))


def test_together_a_pages_streams_start_one_after_another() -> None:
    for page in (0, 1, PAGES - 1):
        offsets = [start_offset(page, s, PAGES, STREAMS, SPREAD) for s in range(STREAMS)]
        assert max(offsets) - min(offsets) < SPREAD / PAGES


def test_apart_a_pages_streams_are_a_fraction_of_the_period_apart() -> None:
    for page in (0, 1, PAGES - 1):
        offsets = [start_offset(page, s, PAGES, STREAMS, SPREAD, "apart") for s in range(STREAMS)]
        assert [b - a for a, b in zip(offsets, offsets[1:], strict=False)] == pytest.approx([SPREAD / STREAMS] * 3)


@pytest.mark.parametrize("phases", PHASES)
def test_starts_come_in_time_order_whatever_the_page_order(phases: str) -> None:
    """Started page after page, ``apart``'s later streams of page 0 would hold back every other page's."""
    order = starts_in_order(PAGES, STREAMS, SPREAD, phases)
    assert [offset for offset, _p, _s in order] == sorted(offset for offset, _p, _s in order)
    assert {(p, s) for _o, p, s in order} == {(p, s) for p in range(PAGES) for s in range(STREAMS)}
    assert all(offset == start_offset(p, s, PAGES, STREAMS, SPREAD, phases) for offset, p, s in order)
