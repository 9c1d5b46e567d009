"""The ladder of static KV-cache sizes a request climbs as its trace grows (pure arithmetic, no torch).

With a static cache every decoding step attends over the whole cache, used or not (SDPA reads every
slot). So a request starts in the smallest size that holds its prompt and a first stretch of tokens
and moves up one size when that one is full (model/local/fastpath.py does the moving); the step then
costs what the tokens really there cost, within a factor of two.

- `cache_lengths(context)`: 4,096, 8,192, ... doubling, the last one the model's context.
- `start_length(lengths, prompt_tokens, limit_tokens, stretch)`: the size a request starts in.
- `fit_ladder(lengths, room_tokens)`: the sizes kept allocated when the memory left after weights
  holds `room_tokens` tokens of KV cache in all: the largest (the context, which a long answer
  needs) first, then the smaller ones from the smallest up while they fit. The planner
  (model/plan/placement.py) and the fast path on a GPU use this same rule.
"""
from __future__ import annotations

FIRST_CACHE_LENGTH = 4096
FIRST_STRETCH = 512  # tokens of room a request gets past its prompt before its first move


def cache_lengths(context: int, first: int = FIRST_CACHE_LENGTH) -> list[int]:
    """4,096, 8,192, 16,384, ... below `context`, then `context` itself."""
    lengths, length = [], first
    while length < context:
        lengths.append(length)
        length *= 2
    return lengths + [context]


def start_length(lengths: list[int], prompt_tokens: int, limit_tokens: int, stretch: int = FIRST_STRETCH) -> int:
    """The smallest size holding the prompt and a first stretch (or the whole request, if shorter)."""
    wanted = min(limit_tokens, prompt_tokens + stretch)
    return next((length for length in sorted(lengths) if length >= wanted), max(lengths))


def next_length(lengths: list[int], current: int) -> int | None:
    """The next size up, or None at the top."""
    return next((length for length in sorted(lengths) if length > current), None)


def fit_ladder(lengths: list[int], room_tokens: int | None) -> list[int]:
    """The sizes to keep within `room_tokens` (None: no limit). The largest is always kept: without
    it the context is out of reach, and whether it fits at all is the planner's verdict."""
    ordered = sorted(lengths)
    if room_tokens is None:
        return ordered
    kept, used = [ordered[-1]], ordered[-1]
    for length in ordered[:-1]:
        if used + length <= room_tokens:
            kept.append(length)
            used += length
    return sorted(kept)
