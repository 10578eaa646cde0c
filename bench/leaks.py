"""Leak detector benchmark: quality on the labelled set and speed per relayed message.

It runs the detector (`core.relay.masking`) over the labelled messages in
`tests/unit/relay/leak_corpus.py`, reports recall (leaks caught with every labelled kind)
and the false-positive rate (innocent messages touched), then times `mask()` per message
over many rounds, and the slowest case we know: a 4,000-character message of spaced
digits, the shape that makes a number scanner work hardest.

    python bench/leaks.py [--quick] [--rounds N]

The last line is JSON: {"bench": "leaks", "recall": …, "false_positive_rate": …,
"p50_us": …, "p99_us": …, "messages_per_s": …, "worst_4k_ms": …}. Targets: recall >= 0.98,
false positives <= 0.02, and masking far below a millisecond for an ordinary message.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, percentile, say
from core.relay.masking import find_leaks, mask
from tests.unit.relay.leak_corpus import INNOCENT, LEAKS


def quality() -> tuple[float, float]:
    caught = sum(1 for text, kinds in LEAKS if kinds <= {x.kind.value for x in find_leaks(text)})
    touched = sum(1 for text in INNOCENT if find_leaks(text))
    return caught / len(LEAKS), touched / len(INNOCENT)


def speed(rounds: int) -> tuple[list[float], float]:
    texts = [text for text, _ in LEAKS] + INNOCENT
    for text in texts:  # warm up: compiled patterns, caches
        mask(text)
    samples: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            begin = time.perf_counter()
            mask(text)
            samples.append((time.perf_counter() - begin) * 1e6)
    elapsed = time.perf_counter() - started
    return samples, len(samples) / elapsed


def worst_case() -> float:
    text = "1 " * 2000
    begin = time.perf_counter()
    mask(text)
    return (time.perf_counter() - begin) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (CI)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over the labelled set")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 30)
    recall, false_positives = quality()
    say(f"labelled set: {len(LEAKS)} leaks, {len(INNOCENT)} innocent; "
        f"recall {recall:.3f}, false positives {false_positives:.3f}")
    samples, per_s = speed(rounds)
    say(f"mask(): {len(samples)} messages, p50 {percentile(samples, 50):.1f} µs, "
        f"p99 {percentile(samples, 99):.1f} µs, {per_s:,.0f} messages/s")
    worst = worst_case()
    say(f"4,000 characters of spaced digits: {worst:.1f} ms")
    emit({
        "bench": "leaks", "leaks": len(LEAKS), "innocent": len(INNOCENT),
        "recall": round(recall, 4), "false_positive_rate": round(false_positives, 4),
        "p50_us": round(percentile(samples, 50), 1), "p99_us": round(percentile(samples, 99), 1),
        "messages_per_s": round(per_s), "worst_4k_ms": round(worst, 1),
    })


if __name__ == "__main__":
    main()
