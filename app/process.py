"""The serving process's garbage collector, set once everything is wired.

CPython's cyclic collector runs a young collection every 700 container allocations and,
now and then, a full one over every object alive. A bot allocates a great deal per update
(the update's and each answer's pydantic models, rows, dicts), so young collections ran
hundreds of times a second and each full one walked the whole heap: the modules, aiogram's
600 pydantic classes and their validators, the tables, the caches. In
`bench/telegram_throughput.py` that was about a fifth of the bot's CPU.

`tune_collector()` collects once, then moves everything alive (what wiring built) into the
permanent generation the collector no longer walks (`gc.freeze`), and runs a young
collection every `YOUNG_THRESHOLD` allocations instead of 700. Garbage without cycles is
freed by reference counting as always; garbage in cycles waits a little longer.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def tune_collector() -> None:
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
