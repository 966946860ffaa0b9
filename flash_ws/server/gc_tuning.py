"""The worker's cyclic garbage collector, set for a server that holds many sessions for long.

CPython's defaults (a young collection every 700 container allocations, a full one whenever a
quarter more objects have lived long) suit short scripts. A streaming worker keeps, for every
running stream, a sleeping coroutine, its future and timer for the whole update period: they live
just long enough to be promoted, so the full collections that follow walk the whole heap, Dash's
and plotly's modules included, and stop every stream of the worker for tens to hundreds of
milliseconds (measured: benchmarks/README.md, "The garbage collector").

``tune_gc`` does two things, once per process, when the first app starts serving:

- ``gc.freeze()`` after a collection: what start-up made (modules, the app, its layout) is never
  walked again. It lives as long as the process anyway.
- ``gc.set_threshold(10_000, 2, 10)``: young collections 14 times rarer, so an object that lives
  one update period mostly dies before one looks at it, and is never promoted; the middle
  generation is collected every second young collection instead of every tenth, so what it walks
  (the objects of every run started meanwhile) stays small. With 10, one middle collection while
  2,000 runs started took ~60 ms, and the runs it held up started together and stayed in step
  (benchmarks/README.md, "A collection that kept runs in step").

Process wide, like the collector itself: ``Flash(gc_tuning=False)`` (or ``FLASH_WS_GC_TUNING=0``)
leaves it as the interpreter set it, for an app that tunes its own.
"""

from __future__ import annotations

import gc
import logging
import os

GEN0_THRESHOLD = 10_000
THRESHOLDS = (GEN0_THRESHOLD, 2, 10)
ENV = "FLASH_WS_GC_TUNING"
log = logging.getLogger("flash_ws")
_tuned = False


def gc_tuning_from_environment(value: bool | None) -> bool:
    """``gc_tuning`` None reads ``$FLASH_WS_GC_TUNING`` (``0``, ``false``, ``no``, ``off``: off), else on."""
    if value is not None:
        return value
    return os.environ.get(ENV, "").strip().lower() not in ("0", "false", "no", "off")


def tune_gc() -> bool:
    """Freeze what start-up made and raise the young generation's threshold, the first time this
    process asks; whether this call did it."""
    global _tuned
    if _tuned:
        return False
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.info("flash_ws: garbage collector tuned: %d start-up objects frozen, thresholds %s (gc_tuning=False "
             "leaves the interpreter's)", gc.get_freeze_count(), THRESHOLDS)
    return True
