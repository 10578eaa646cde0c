"""A worker for the supervisor's tests that only waits: it imports nothing heavy, so a
spawned process is up at once (a real worker takes seconds to import)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def wait_in_a_worker(folder: Path, index: int) -> None:
    (folder / f"{index}.pid").write_text(str(os.getpid()))
    time.sleep(120)
