"""flash_ws.server.sync_steps: a page's calls share its slots; a call cancelled before it has a
thread never runs, one cancelled in its thread keeps the slot until the thread returns."""

from __future__ import annotations

import asyncio
import threading

from flash_ws.server.sync_steps import SyncSteps
from tests.conftest import TIMEOUT, eventually


async def test_a_page_holds_at_most_its_slots_and_a_cancelled_call_frees_its_slot_only_when_its_thread_returns():
    steps = SyncSteps(threads=8, per_page=2)
    gate = threading.Event()
    entered: list[str] = []

    def block(name: str) -> str:
        entered.append(name)
        gate.wait(TIMEOUT)
        return name

    first, second, third = (steps.run("page", block, name) for name in ("first", "second", "third"))
    other = steps.run("other page", block, "other")
    await eventually(lambda: sorted(entered) == ["first", "other", "second"], what="two of the page's calls and the other page's")
    third.cancel()  # waiting for a slot: it never runs
    second.cancel()  # in its thread: ends when the thread returns, holding its slot till then
    fourth = steps.run("page", block, "fourth")
    await asyncio.sleep(0.2)  # nothing may enter meanwhile (a condition that must stay false)
    assert sorted(entered) == ["first", "other", "second"]
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, fourth, other), TIMEOUT) == ["first", "fourth", "other"]
    await asyncio.wait([second, third])
    assert second.cancelled() and third.cancelled() and "third" not in entered
