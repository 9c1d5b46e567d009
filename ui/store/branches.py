"""A conversation's versions: every answer a turn was given, each with what followed it (a tree).

Contract:
- The session's records (a tuple of `TurnRecord`s) stay the SHOWN path, the only history the model
  sees; a `Node` tree keeps the other versions. The root has no record; `versions` are the versions
  of the next turn, `shown` which one the shown path takes. A version remembers its own follow-ups
  and which of them was shown, so switching back to it shows it with what followed it.
- `grown(tree, records)`: the tree once `records` is the shown path. Turns are matched by identity
  (the session's records are the very objects kept here), so a regenerated answer is always a new
  version even when its text is the same. A turn not found is added as a new version at its place,
  shown. Records that end early (a question being edited) leave the rest of the tree as it was.
  Idempotent: anything that reads the tree may grow it first, whatever ran before.
- `pruned(tree, length)`: after Undo left `length` turns, the undone turn is dropped from the tree
  (only a version with no follow-ups: Undo takes the last turn); its other versions stay.
- `switched(tree, turn, version)`: the tree showing version `version` (0-based) of turn `turn`.
- `path(tree)`: the shown path; `counts(tree, length)`: (version, of) per turn of the first `length`.
- `to_data(tree, records, encode)` / `from_data(data, records, decode)`: the tree as JSON for the
  browser's store; a turn on the shown path is written as "path" (the store keeps it in "turns").
  Anything malformed reads back as the shown path alone, never an error.
Nothing here imports Gradio or the renderer; records are opaque beyond identity.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

ON_PATH = "path"  # to_data's stand-in for a turn the store already keeps in its "turns"
MAX_NODES = 2_000  # versions read back from a store, at most (a hand-written store could hold more)


@dataclass(frozen=True)
class Node:
    """One version of a turn (the root: no record), the versions of the turn after it, and which is shown."""

    record: Any = None
    versions: tuple["Node", ...] = ()
    shown: int = 0


def chained(records: Sequence[Any]) -> tuple[Node, ...]:
    """`records` as one line of versions (each the only version of its turn)."""
    node: tuple[Node, ...] = ()
    for record in reversed(tuple(records)):
        node = (Node(record, node),)
    return node


def tree_of(records: Sequence[Any]) -> Node:
    return Node(None, chained(records))


def _found(versions: Sequence[Node], record: Any, shown: int) -> int | None:
    if shown < len(versions) and versions[shown].record is record:
        return shown
    return next((at for at, node in enumerate(versions) if node.record is record), None)


def grown(tree: Node | None, records: Sequence[Any]) -> Node:
    """`tree` with `records` as its shown path (see the module's contract)."""
    records = tuple(records)
    if tree is None:
        return tree_of(records)
    if not records:
        return tree
    at = _found(tree.versions, records[0], tree.shown)
    if at is None:
        return replace(tree, versions=tree.versions + chained(records), shown=len(tree.versions))
    versions = list(tree.versions)
    versions[at] = grown(versions[at], records[1:])
    return replace(tree, versions=tuple(versions), shown=at)


def path(tree: Node | None) -> tuple:
    out, node = [], tree
    while node is not None and node.versions:
        node = node.versions[min(node.shown, len(node.versions) - 1)]
        out.append(node.record)
    return tuple(out)


def _along(tree: Node, depth: int, change: Callable[[Node], Node]) -> Node:
    """`tree` with `change` applied to the node `depth` turns down the shown path (if there is one)."""
    if depth == 0:
        return change(tree)
    if not tree.versions:
        return tree
    at = min(tree.shown, len(tree.versions) - 1)
    versions = list(tree.versions)
    versions[at] = _along(versions[at], depth - 1, change)
    return replace(tree, versions=tuple(versions))


def switched(tree: Node, turn: int, version: int) -> Node:
    """`tree` showing version `version` of turn `turn` (both 0-based; clamped to what exists)."""
    def choose(node: Node) -> Node:
        return replace(node, shown=max(0, min(version, len(node.versions) - 1))) if node.versions else node
    return _along(tree, turn, choose)


def pruned(tree: Node, length: int) -> Node:
    """`tree` without the shown version of turn `length` when it has no follow-ups (Undo took it)."""
    def drop(node: Node) -> Node:
        if not node.versions or node.versions[min(node.shown, len(node.versions) - 1)].versions:
            return node
        at = min(node.shown, len(node.versions) - 1)
        left = node.versions[:at] + node.versions[at + 1:]
        return replace(node, versions=left, shown=max(0, min(at, len(left) - 1)))
    return _along(tree, length, drop)


def counts(tree: Node | None, length: int) -> list[tuple[int, int]]:
    """(shown version, number of versions), both counted from 1, for each of the first `length` turns."""
    out, node = [], tree
    while node is not None and node.versions and len(out) < length:
        at = min(node.shown, len(node.versions) - 1)
        out.append((at + 1, len(node.versions)))
        node = node.versions[at]
    return out


def branching(tree: Node | None, length: int) -> list[tuple[int, int, int]]:
    """(turn index, shown version, versions) for each of the first `length` turns with more than one version."""
    return [(turn, shown, total) for turn, (shown, total) in enumerate(counts(tree, length)) if total > 1]


# ---- to and from the browser's store ------------------------------------------------------------

def to_data(tree: Node | None, records: Sequence[Any], encode: Callable[[Any], dict]) -> dict | None:
    """The tree as JSON (None when it holds nothing beyond `records`, the shown path)."""
    tree = grown(tree, records)
    if tree.versions == chained(records) or (not records and not tree.versions):
        return None
    return _level(tree, 0, True, tuple(records), encode)


def _level(node: Node, depth: int, on_path: bool, records: tuple, encode: Callable[[Any], dict]) -> dict:
    versions = []
    for at, child in enumerate(node.versions):
        here = on_path and at == node.shown and depth < len(records) and child.record is records[depth]
        versions.append({"turn": ON_PATH if here else encode(child.record),
                         "next": _level(child, depth + 1, here, records, encode)})
    return {"shown": node.shown, "versions": versions}


def from_data(data: Any, records: Sequence[Any], decode: Callable[[dict], Any]) -> Node:
    """The tree `to_data` wrote, its shown path being `records`; the shown path alone if it is malformed."""
    records = tuple(records)
    if data is None:
        return tree_of(records)
    budget = [MAX_NODES]
    try:
        tree = _read(data, 0, True, records, decode, budget)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return tree_of(records)
    shown = path(tree)
    if len(shown) < len(records) or any(a is not b for a, b in zip(shown, records)):
        return tree_of(records)
    return tree


def _read(data: Any, depth: int, on_path: bool, records: tuple, decode: Callable[[dict], Any],
          budget: list[int]) -> Node:
    if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
        raise ValueError("a level is {'shown', 'versions'}")
    shown = data.get("shown", 0)
    if not isinstance(shown, int) or isinstance(shown, bool) or not 0 <= shown < max(1, len(data["versions"])):
        raise ValueError("'shown' names one of the versions")
    versions = []
    for at, item in enumerate(data["versions"]):
        budget[0] -= 1
        if budget[0] < 0 or not isinstance(item, dict):
            raise ValueError("too many versions, or one that is not a dict")
        here = on_path and at == shown
        if item.get("turn") == ON_PATH:
            if not here or depth >= len(records):
                raise ValueError("'path' stands only on the shown path")
            record = records[depth]
        else:
            record = decode(item["turn"])
        versions.append(replace(_read(item["next"], depth + 1, here and item.get("turn") == ON_PATH, records,
                                      decode, budget), record=record))
    return Node(None, tuple(versions), shown)
