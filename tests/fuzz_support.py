"""Hostile variations of real platform answers: the simulator's answer, with some items damaged.

A `Damager` sits between a source and the simulator (an httpx MockTransport that forwards to the
simulator over loopback) and rewrites the first answer of the platform's post endpoint: a few of
its items get one field replaced by a hostile value (wrong type, out-of-range time, lone
surrogate, NUL, escape sequence, enormous text, deep nesting), lose a field, or are replaced
whole. It records which items it damaged, by position and original id, so a test can check that
each is either stored or reported by position, and that every undamaged item is stored.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**70,
    -(2**70),
    1e20,
    -1e20,
    float("inf"),
    float("-inf"),
    float("nan"),
    0.5,
    "",
    " ",
    "\ud83d",
    "a\ud83d\ude00b\udc00",
    "\x00",
    "x\x00y",
    "\x1b]0;pwned\x07\x1b[31m",
    "\u202eevil",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "1e20",
    "Infinity",
    "NaN",
    "-1",
    "yesterday",
    "2026-02-30T25:61:61Z",
    "x" * 200_000,
    "é" * 3000,
    [],
    {},
    [None],
    {"a": {"b": [1, {"c": None}]}},
    [[[[[[[[[[[]]]]]]]]]]],
    {"$type": "x", "uri": None},
    ["#tag", 5, None],
    "<script>alert(1)</script>",
]


def leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (keys and list indexes), the value itself first."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += leaf_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:5]):
            out += leaf_paths(v, prefix + (i,))
    return out


def set_path(root: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return root


@dataclass
class Damage:
    index: int  # 1-based position in the answer's item list
    original_id: str | None
    path: tuple
    value: Any
    deleted: bool

    def __str__(self) -> str:
        shown = repr(self.value)
        shown = shown if len(shown) < 60 else shown[:60] + "..."
        return f"item {self.index} ({self.original_id}): {'deleted' if self.deleted else 'set'} {self.path} {shown}"


@dataclass
class Damager:
    """Damages the first answer whose path `target` accepts; `items(body)` finds the item list."""

    real: httpx.Client
    target: Callable[[str], bool]
    items: Callable[[Any], list[Any]]
    id_of: Callable[[Any], str | None]
    rng: random.Random
    how_many: int = 3
    damaged: list[Damage] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)  # every item's original id, in order
    done: bool = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        resp = self.real.send(
            self.real.build_request(
                request.method, request.url, headers=request.headers, content=request.content
            )
        )
        headers = {
            k: v
            for k, v in resp.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        }
        body = resp.content
        if not self.done and resp.status_code == 200 and self.target(request.url.path):
            self.done = True
            body = self.damage(json.loads(body))
        return httpx.Response(resp.status_code, headers=headers, content=body)

    def damage(self, body: Any) -> bytes:
        items = self.items(body)
        self.ids = [self.id_of(item) for item in items]
        for index in self.rng.sample(range(len(items)), min(self.how_many, len(items))):
            paths = leaf_paths(items[index])
            path = self.rng.choice(paths)
            value = self.rng.choice(HOSTILE)
            delete = bool(path) and self.rng.random() < 0.15
            items[index] = set_path(items[index], path, value, delete)
            self.damaged.append(Damage(index + 1, self.ids[index], path, value, delete))
        return json.dumps(body, allow_nan=True).encode()
