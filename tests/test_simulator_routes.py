"""The simulator serves every endpoint family it names, and every route a family lists answers.

Registration is explicit (server.PLATFORMS, built from each module's `routes()`), so the ways it
breaks are quiet ones: a new family module left out of PLATFORMS, a `routes()` that hands over
nothing, a route shadowed by an earlier pattern, or the table not reaching the dispatcher. Each
shows here rather than as a source test failing for reasons that look like the source's.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import httpx
import pytest

import monitor.simulator.platforms as platforms_pkg
from monitor.simulator.routing import Route
from monitor.simulator.server import PLATFORMS, ROUTES, Simulator

_GROUP = re.compile(r"\(\?P<\w+>[^()]*\)")
_OPTIONAL = re.compile(r"\(\?:[^()]*(?:\([^()]*\)[^()]*)*\)\?")


def sample_path(rt: Route) -> str:
    """A concrete path the route's pattern matches: optional parts left out, each parameter a
    plain word every parameter's character class accepts."""
    path = _OPTIONAL.sub("", rt.pattern.pattern)
    path = _GROUP.sub("worldnews", path)
    path = path.replace("\\", "")
    assert rt.pattern.fullmatch(path), (rt.pattern.pattern, path)
    return path


def test_every_family_module_is_served() -> None:
    """A module of platforms/ with a `routes()` is a family; leaving one out of PLATFORMS would
    make its endpoints 404 while its own module still imports cleanly."""
    families = set()
    for info in pkgutil.iter_modules(platforms_pkg.__path__):
        module = importlib.import_module(f"{platforms_pkg.__name__}.{info.name}")
        if callable(getattr(module, "routes", None)):
            families.add(module.__name__)
    served = {getattr(p, "__name__", repr(p)) for p in PLATFORMS}
    assert served == families
    assert len(served) == len(PLATFORMS), "a family is named twice"


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: getattr(p, "__name__", repr(p)))
def test_each_family_hands_its_routes_to_the_server(platform) -> None:
    listed = platform.routes()
    assert listed, "a family that lists no route serves nothing"
    assert all(not rt.control for rt in listed), "only the server's own routes skip the faults"
    assert all(any(rt is served for served in ROUTES) for rt in listed)


def test_no_route_is_shadowed_by_an_earlier_one() -> None:
    """The dispatcher takes the first route matching method and path: a broad pattern listed
    earlier would silently take over another family's endpoint."""
    for rt in ROUTES:
        path = sample_path(rt)
        first = next(r for r in ROUTES if r.method == rt.method and r.pattern.fullmatch(path))
        assert first is rt, f"{rt.method} {path} is answered by {first.handler.__name__}"


def test_every_route_answers_on_a_running_simulator() -> None:
    """Each route reaches its handler over HTTP: whatever the handler says (401 without a
    token, 400 without a body, a 307 to the websocket), never the dispatcher's 404 or 405."""
    with Simulator() as sim, httpx.Client(base_url=sim.url, timeout=10) as client:
        for rt in ROUTES:
            path = sample_path(rt)
            resp = client.request(rt.method, path)
            where = f"{rt.method} {path} ({rt.handler.__name__})"
            assert resp.status_code != 405, where
            if resp.status_code == 404:
                assert "no such endpoint" not in resp.text, where
        # the control routes skip the request count; every other one counted once
        served = sum(not rt.control for rt in ROUTES)
        assert client.get("/_sim/status").json()["requests"] == served
