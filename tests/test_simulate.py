"""The bundled corpus has the shape the demo relies on, and the simulator speaks real feed formats.

Every feed is checked with feedparser (bytes in, as the sources will do it), because a feed that
only looks right to us but not to feedparser would make every source test meaningless.
"""

from __future__ import annotations

import gzip
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import resources

import feedparser
import httpx
import pytest

from monitor.simulator.corpus import (
    BURST_WINDOW,
    PLATFORMS,
    POLARIZED_WINDOW,
    SPAN_S,
    STORY_HASHTAGS,
    CorpusPost,
    generate,
    hashtags_in,
    load_corpus,
)
from monitor.simulator.server import Faults, SimClock, Simulator, default_epoch

EPOCH = datetime(2025, 3, 1, tzinfo=UTC)
KEYWORDS = re.compile(r"trump|putin|dmitriev|sanction|трамп|путин|дмитриев|санкц", re.I)
STORY_TAGS = {t.casefold() for t in STORY_HASHTAGS} | {"трамппутин", "санкции", "дмитриев"}


def on_topic(p: CorpusPost) -> bool:
    return bool(
        KEYWORDS.search(f"{p.title or ''} {p.text}")
        or STORY_TAGS & {t.casefold() for t in p.hashtags}
    )


@pytest.fixture(scope="module")
def corpus() -> list[CorpusPost]:
    return load_corpus()


@pytest.fixture
def sim():
    clock = SimClock(EPOCH, start_offset_s=SPAN_S)
    clock.pause()
    with Simulator(clock=clock) as s:
        yield s


# One client for the module: building one per request (SSL context and all) costs ~20 ms each.
HTTP = httpx.Client(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def _close_client():
    yield
    HTTP.close()


def get(sim: Simulator, path: str, **headers: str) -> httpx.Response:
    return HTTP.get(sim.url + path, headers=headers)


def parse(resp: httpx.Response):
    return feedparser.parse(resp.content)


def post_at(corpus: list[CorpusPost], offset: int) -> CorpusPost:
    return next(p for p in corpus if p.offset_s == offset)


# --- corpus -------------------------------------------------------------------------------------


def test_corpus_size_span_and_ids(corpus):
    assert 2000 <= len(corpus) <= 5000
    offsets = [p.offset_s for p in corpus]
    assert offsets == sorted(offsets)
    assert 0 <= offsets[0] < 3600 and SPAN_S - 3600 <= offsets[-1] < SPAN_S
    assert {o // 86400 for o in offsets} == {0, 1, 2}
    assert [p.id for p in corpus] == [f"p{n:06d}" for n in range(len(corpus))]
    assert {p.platform for p in corpus} == set(PLATFORMS)


def test_record_shape(corpus):
    ids = {p.id: p for p in corpus}
    for p in corpus:
        assert p.hashtags == tuple(hashtags_in(p.text))
        assert p.reply_to is None
        if p.platform == "news":
            assert p.title and p.title.endswith(" - " + p.author)
        elif p.platform == "reddit":
            assert p.title
        else:
            assert p.title is None
        if p.repost_of is not None:
            original = ids[p.repost_of]
            assert original.id < p.id and original.platform == p.platform in ("mastodon", "x")
            assert p.text == "" if p.platform == "mastodon" else p.text.startswith("RT @")
    assert 20 <= sum(p.repost_of is not None for p in corpus) <= 150


def test_russian_share(corpus):
    ru = [p for p in corpus if p.lang == "ru"]
    assert 0.07 <= len(ru) / len(corpus) <= 0.11
    assert all(re.search("[а-яА-Я]", p.text) for p in ru if p.text)
    assert any(re.search("[а-яА-Я]", t) for p in ru for t in p.hashtags)
    assert {p.lang for p in corpus} == {"en", "ru"}


def test_matching_mix(corpus):
    """Some posts match only by keyword, some by hashtag, and about a tenth match nothing."""
    originals = [p for p in corpus if p.repost_of is None]
    noise = [p for p in originals if not on_topic(p)]
    tagged = [p for p in originals if STORY_TAGS & {t.casefold() for t in p.hashtags}]
    tagged_ids = {p.id for p in tagged}
    keyword_only = [p for p in originals if on_topic(p) and p.id not in tagged_ids]
    assert 0.07 <= len(noise) / len(originals) <= 0.14
    assert len(tagged) / len(originals) >= 0.25
    assert len(keyword_only) / len(originals) >= 0.25
    assert any(
        t != t.casefold() and t.casefold() == "trumpputinbusiness"
        for p in tagged
        for t in p.hashtags
    )
    assert any(t == "trumpputinbusiness" for p in tagged for t in p.hashtags)


def test_burst_on_day_two(corpus):
    hourly = Counter(p.offset_s // 3600 for p in corpus)
    counts = [hourly.get(h, 0) for h in range(SPAN_S // 3600)]
    peak_hour = max(range(len(counts)), key=counts.__getitem__)
    assert counts[peak_hour] >= 4 * statistics.median(counts)
    assert BURST_WINDOW[0] <= peak_hour * 3600 < BURST_WINDOW[1]
    assert 24 <= peak_hour < 48


def _compounds(corpus, window):
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    analyzer = vader.SentimentIntensityAnalyzer()
    return [
        analyzer.polarity_scores(f"{p.title or ''} {p.text}".strip())["compound"]
        for p in corpus
        if window[0] <= p.offset_s < window[1]
        and p.lang == "en"
        and p.repost_of is None
        and on_topic(p)
    ]


def test_polarized_phase_splits_into_two_camps(corpus):
    scores = _compounds(corpus, POLARIZED_WINDOW)
    n = len(scores)
    assert n >= 300
    assert sum(s >= 0.5 for s in scores) / n >= 0.3
    assert sum(s <= -0.5 for s in scores) / n >= 0.3
    assert sum(abs(s) < 0.05 for s in scores) / n <= 0.15


def test_first_day_is_lukewarm(corpus):
    scores = _compounds(corpus, (0, 86400))
    n = len(scores)
    assert sum(abs(s) >= 0.5 for s in scores) / n <= 0.3
    assert sum(abs(s) < 0.05 for s in scores) / n >= 0.25
    assert abs(statistics.mean(scores)) < 0.1


def test_hostile_texts_present(corpus):
    texts = [f"{p.author} {p.title or ''} {p.text}" for p in corpus]
    for marker in (
        "[bold red]",
        "[/]",
        "\x1b]0;pwned\x07",
        "\u202e",
        "<script>",
        "\x00",
        "\x9b",
        "[blink]",
    ):
        assert any(marker in t for t in texts), marker
    assert max(len(p.text) for p in corpus) >= 5000


def test_generator_is_deterministic_and_bundle_is_current(corpus):
    other = generate(seed=5)
    assert other == generate(seed=5)
    default = generate()
    assert other != default
    assert [CorpusPost.from_record(r) for r in default] == corpus


def test_bundle_is_small_and_loader_cached(corpus):
    data = resources.files("monitor").joinpath("data").joinpath("corpus.jsonl.gz").read_bytes()
    assert len(data) < 1_000_000
    assert len(gzip.decompress(data).splitlines()) == len(corpus)
    first, second = load_corpus(), load_corpus()
    assert first == second and first is not second and first[0] is second[0]
    with pytest.raises(AttributeError):
        first[0].text = "changed"  # type: ignore[misc]


# --- clock --------------------------------------------------------------------------------------


def test_sim_clock():
    clock = SimClock(EPOCH, speed=1000, start_offset_s=100)
    time.sleep(0.02)
    assert 110 <= clock.offset_s() < 1000
    clock.pause()
    frozen = clock.offset_s()
    time.sleep(0.01)
    assert clock.offset_s() == frozen and clock.now() == EPOCH + timedelta(seconds=frozen)
    clock.set_offset(5000)
    assert clock.offset_s() == 5000
    clock.resume()
    time.sleep(0.01)
    assert clock.offset_s() > 5000
    clock.set_speed(0)
    assert clock.offset_s() == clock.offset_s()
    with pytest.raises(ValueError):
        SimClock(datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        SimClock(EPOCH, speed=-1)


def test_default_epoch_is_three_days_before_the_hour():
    now = datetime(2025, 6, 10, 14, 37, 5, 123, tzinfo=UTC)
    assert default_epoch(now) == datetime(2025, 6, 7, 14, tzinfo=UTC)
    assert SimClock().epoch + timedelta(seconds=SPAN_S) <= datetime.now(UTC)


# --- feeds --------------------------------------------------------------------------------------


def test_google_news_search(sim, corpus):
    resp = get(sim, "/rss/search?q=Dmitriev+when:1h&hl=en-US&gl=US&ceid=US:en")
    d = parse(resp)
    assert resp.status_code == 200 and d.bozo == 0 and d.version == "rss20"
    expected = [
        p
        for p in reversed(corpus)
        if p.platform == "news" and "dmitriev" in f"{p.title} {p.text}".casefold()
    ][:100]
    assert [e.id for e in d.entries] == [p.id for p in expected]
    assert d.feed.title == '"Dmitriev when:1h" - Google News'
    first, post = d.entries[0], expected[0]
    assert first.title == post.title and " - " in first.title
    assert first.link == f"{sim.url}/articles/{post.id}?oc=5"
    assert first.source.title == post.author and first.source.href.endswith(".example")
    assert first.published_parsed[:6] == (EPOCH + timedelta(seconds=post.offset_s)).timetuple()[:6]
    assert len(parse(get(sim, "/rss/search?q=Trump+OR+Putin")).entries) == 100
    assert parse(get(sim, "/rss/search?q=zzzunmatched")).entries == []


def test_mastodon_tag_rss(sim, corpus):
    d = parse(get(sim, "/tags/TrumpPutinBusiness.rss"))
    assert d.bozo == 0 and d.version == "rss20" and len(d.entries) == 20
    tagged = [
        p
        for p in reversed(corpus)
        if p.platform == "mastodon" and "trumpputinbusiness" in {t.casefold() for t in p.hashtags}
    ]
    assert [e.id for e in d.entries] == [sim.feed_ids(p)["mastodon_rss"] for p in tagged[:20]]
    entry = d.entries[0]
    assert entry.id == entry.link and entry.link.startswith(sim.url + "/@")
    assert "title" not in entry and "trumpputinbusiness" in [t.term for t in entry.tags]
    assert 'class="mention hashtag"' in entry.summary
    lower = parse(get(sim, "/tags/trumpputinbusiness.rss?limit=200"))
    assert len(lower.entries) == min(200, len(tagged))
    assert [e.id for e in lower.entries[:20]] == [e.id for e in d.entries]
    cyrillic = parse(
        get(sim, "/tags/%D0%A2%D1%80%D0%B0%D0%BC%D0%BF%D0%9F%D1%83%D1%82%D0%B8%D0%BD.rss")
    )
    assert cyrillic.bozo == 0 and cyrillic.entries
    assert parse(get(sim, "/tags/nosuchtag.rss")).entries == []


def test_reddit_atom(sim, corpus):
    d = parse(get(sim, "/r/worldnews/new/.rss"))
    assert d.bozo == 0 and d.version == "atom10" and len(d.entries) == 25
    reddit = [p for p in reversed(corpus) if p.platform == "reddit"]
    assert [e.id for e in d.entries] == [sim.feed_ids(p)["reddit_atom"] for p in reddit[:25]]
    entry = d.entries[0]
    assert entry.id.startswith("t3_") and entry.author == f"/u/{reddit[0].author}"
    assert entry.title == reddit[0].title and "submitted by" in entry.content[0].value
    assert len(parse(get(sim, "/r/worldnews/new/.rss?limit=500")).entries) == 100
    assert get(sim, "/r/worldnews/new/.rss?limit=lots").status_code == 400


def test_generic_atom(sim, corpus):
    d = parse(get(sim, "/feeds/all.atom"))
    assert d.bozo == 0 and d.version == "atom10" and len(d.entries) == 200
    assert [e.id for e in d.entries] == [
        f"urn:reaction-monitor:sim:{p.id}" for p in corpus[::-1][:200]
    ]
    assert len(parse(get(sim, "/feeds/all.atom?limit=3")).entries) == 3
    assert get(sim, "/feeds/all.atom?limit=5000").text.count("<entry") == 1000
    ru = next(e for e in d.entries if e.content[0].language == "ru")
    assert re.search("[а-яА-Я]", ru.content[0].value)


def test_hostile_posts_survive_every_feed(sim, corpus):
    """Feeds stay well-formed XML; markup, bidi and control characters reach the client."""
    for marker, path in (
        ("[bold red]", "/feeds/all.atom?limit=5"),
        ("\u202e", "/feeds/all.atom?limit=5"),
        ("\x1b]0;pwned", "/tags/RussiaSanctions.rss?limit=5"),
        ("<script>", "/tags/TrumpPutinBusiness.rss?limit=5"),
        ("MEAN something", "/r/worldnews/new/.rss?limit=5"),
        ("[red]Markets", "/rss/search?q=summit"),
        ("\x00", "/feeds/all.atom?limit=5"),
    ):
        post = next(p for p in corpus if marker in f"{p.title} {p.text}")
        sim.clock.set_offset(post.offset_s)
        resp = get(sim, path)
        d = parse(resp)
        assert d.bozo == 0, (marker, d.get("bozo_exception"))
        body = resp.text
        if marker in ("\x1b]0;pwned", "\x00"):
            assert f"&amp;#{ord(marker[0])};" in body  # carried as an HTML character reference
        elif marker == "<script>":
            assert "&amp;lt;script&amp;gt;" in body  # escaped twice: as HTML, then as XML
        else:
            assert marker in "".join(e.get("title", "") + e.get("summary", "") for e in d.entries)


# --- conditional GET and the clock --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/rss/search?q=Putin", "/tags/TrumpPutin.rss", "/r/worldnews/new/.rss", "/feeds/all.atom"],
)
def test_conditional_get(sim, path):
    sim.clock.set_offset(BURST_WINDOW[0])
    first = get(sim, path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert get(sim, path).headers["ETag"] == etag  # the body is stable while nothing new appears
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"x", W/{etag}'},
        {"If-Modified-Since": modified},
    ):
        again = get(sim, path, **headers)
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert (
        get(sim, path, **{"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code
        == 200
    )
    sim.clock.set_offset(BURST_WINDOW[1])
    later = get(sim, path, **{"If-None-Match": etag, "If-Modified-Since": modified})
    assert later.status_code == 200 and later.headers["ETag"] != etag


def test_clock_gates_publication(sim, corpus):
    offset = corpus[1000].offset_s
    sim.clock.set_offset(offset)
    before = parse(get(sim, "/feeds/all.atom?limit=30"))
    assert before.entries[0].id.endswith(":" + max(p.id for p in corpus if p.offset_s <= offset))
    now = EPOCH + timedelta(seconds=offset)
    assert all(datetime(*e.published_parsed[:6], tzinfo=UTC) <= now for e in before.entries)

    def entry_ids() -> set[str]:
        return set(re.findall(r"<id>(urn:[^<]+)</id>", get(sim, "/feeds/all.atom?limit=1000").text))

    old = entry_ids()
    sim.clock.set_offset(offset + 6 * 3600)
    new = entry_ids() - old
    assert len(new) == sum(offset < p.offset_s <= offset + 6 * 3600 for p in corpus) > 0
    assert sim.status()["published"] == sum(p.offset_s <= offset + 6 * 3600 for p in corpus)


def test_clock_runs_at_speed(corpus):
    clock = SimClock(EPOCH, speed=3600 * 20, start_offset_s=0)
    with Simulator(corpus=corpus[:50], clock=clock) as s:
        time.sleep(0.3)  # >= 6 simulated hours
        status = get(s, "/_sim/status").json()
        assert status["offset_s"] >= 6 * 3600
        assert status["published"] >= sum(p.offset_s <= 6 * 3600 for p in corpus[:50])


# --- faults -------------------------------------------------------------------------------------


def test_latency_fault(sim):
    sim.set_faults(latency_s=0.3, count=1)
    t0 = time.monotonic()
    assert get(sim, "/feeds/all.atom?limit=1").status_code == 200
    assert time.monotonic() - t0 >= 0.3
    assert sim.status()["faults"] is None  # count=1: the next request is served as usual


def test_status_fault_with_retry_after_and_count(sim):
    sim.set_faults(status=429, retry_after=30, count=2)
    for _ in range(2):
        resp = get(sim, "/tags/TrumpPutin.rss")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "30"
    assert get(sim, "/tags/TrumpPutin.rss").status_code == 200
    sim.set_faults(status=503)
    assert all(get(sim, "/r/worldnews/new/.rss").status_code == 503 for _ in range(3))
    sim.clear_faults()
    assert get(sim, "/r/worldnews/new/.rss").status_code == 200


def test_path_prefix_limits_the_fault(sim):
    sim.set_faults(status=500, path_prefix="/tags/")
    assert get(sim, "/tags/TrumpPutin.rss").status_code == 500
    assert get(sim, "/feeds/all.atom").status_code == 200
    assert get(sim, "/_sim/status").status_code == 200  # control endpoints are never faulted


def test_truncate_fault_records_only_complete_items(sim):
    full = parse(get(sim, "/feeds/all.atom?limit=40"))
    sim.reset_served()
    sim.set_faults(truncate=True, count=1)
    cut = get(sim, "/feeds/all.atom?limit=40")
    assert cut.status_code == 200 and parse(cut).bozo == 1
    served = sim.served_ids()
    assert 0 < len(served) < 40
    assert all(item in cut.text for item in served)
    assert served == {e.id for e in full.entries[: len(served)]}


def test_invalid_and_huge_faults(sim):
    sim.reset_served()
    sim.set_faults(invalid=True, count=1)
    bad = get(sim, "/rss/search?q=Putin")
    assert bad.status_code == 200 and parse(bad).bozo == 1
    sim.set_faults(huge_bytes=3_000_000, count=1)
    with HTTP.stream("GET", sim.url + "/feeds/all.atom") as resp:
        assert resp.status_code == 200 and "content-length" not in resp.headers
        received = sum(len(chunk) for chunk in resp.iter_raw())
    assert received == 3_000_000
    assert sim.served_ids() == set()  # garbage delivers no items
    assert parse(get(sim, "/feeds/all.atom")).bozo == 0  # the fault cleared after one request


def test_client_that_gives_up_early_does_not_break_the_server(sim):
    sim.set_faults(huge_bytes=50_000_000, count=1)
    with HTTP.stream("GET", sim.url + "/feeds/all.atom") as resp:
        next(resp.iter_raw())
    assert get(sim, "/feeds/all.atom?limit=1").status_code == 200


def test_client_reset_is_routine_not_an_error(sim, capfd):
    host, port = sim.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    conn.sendall(b"GET /feeds/all.atom?limit=1 HTTP/1.1\r\nHost: sim\r\n\r\n")
    time.sleep(0.1)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # RST while the server waits for the next keep-alive request
    time.sleep(0.1)
    assert get(sim, "/_sim/status").status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_faults_over_http(sim):
    resp = HTTP.post(sim.url + "/_sim/faults", json={"status": 503, "retry_after": 2, "count": 1})
    assert resp.status_code == 200 and resp.json()["faults"]["status"] == 503
    blocked = get(sim, "/feeds/all.atom")
    assert blocked.status_code == 503 and blocked.headers["Retry-After"] == "2"
    assert get(sim, "/_sim/status").json()["faults"] is None
    assert HTTP.post(sim.url + "/_sim/faults", json={"sttaus": 500}).status_code == 400
    assert HTTP.post(sim.url + "/_sim/faults", json={"count": 0, "status": 500}).status_code == 400
    HTTP.post(sim.url + "/_sim/faults", json={"latency_s": 0.01})
    assert HTTP.delete(sim.url + "/_sim/faults").json()["faults"] is None


def test_faults_validation():
    with pytest.raises(ValueError):
        Faults(status=42)
    with pytest.raises(ValueError):
        Faults.from_json({"bogus": 1})
    assert not Faults().active and Faults(truncate=True).active


# --- bookkeeping and control --------------------------------------------------------------------


def test_served_ids_match_what_clients_saw(sim, corpus):
    seen: set[str] = set()
    sim.clock.set_offset(BURST_WINDOW[0])
    for step in range(3):
        sim.clock.set_offset(BURST_WINDOW[0] + step * 1800)
        for path in (
            "/rss/search?q=Dmitriev+Arctic",
            "/tags/TrumpPutinBusiness.rss",
            "/r/politics/new/.rss?limit=10",
            "/feeds/all.atom?limit=25",
        ):
            resp = get(sim, path)
            seen |= {e.id for e in parse(resp).entries}
            etag = resp.headers["ETag"]
            assert get(sim, path, **{"If-None-Match": etag}).status_code == 304
    assert sim.served_ids() == seen
    listed = get(sim, "/_sim/served").json()
    assert listed == sorted(seen)
    assert HTTP.delete(sim.url + "/_sim/served").json() == [] and sim.served_ids() == set()


def test_status_and_clock_endpoints(sim, corpus):
    status = get(sim, "/_sim/status").json()
    assert status["total"] == len(corpus) == status["published"] and status["paused"] is True
    resp = HTTP.post(sim.url + "/_sim/clock", json={"offset_s": 3600, "speed": 60})
    assert resp.json()["offset_s"] == 3600 and resp.json()["speed"] == 60
    assert resp.json()["published"] == sum(p.offset_s <= 3600 for p in corpus)
    assert HTTP.post(sim.url + "/_sim/clock", json={"paused": False}).json()["paused"] is False
    assert HTTP.post(sim.url + "/_sim/clock", json={"speed": -1}).status_code == 400
    assert HTTP.post(sim.url + "/_sim/clock", content=b"{nope").status_code == 400
    requests_before = get(sim, "/_sim/status").json()["requests"]
    get(sim, "/feeds/all.atom?limit=1")
    assert get(sim, "/_sim/status").json()["requests"] == requests_before + 1


def test_unknown_paths_and_methods(sim):
    assert get(sim, "/nope").status_code == 404
    resp = HTTP.post(sim.url + "/feeds/all.atom")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]


def test_stop_is_quick_with_open_keep_alive_connections(corpus):
    s = Simulator(corpus=corpus[:10], clock=SimClock(EPOCH, start_offset_s=SPAN_S)).start()
    client = httpx.Client()
    assert client.get(s.url + "/feeds/all.atom").status_code == 200
    t0 = time.monotonic()
    s.stop()
    assert time.monotonic() - t0 < 2
    client.close()
    with pytest.raises(RuntimeError):
        _ = s.url


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_and_stops_cleanly(sig):
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.simulator.server", "--port", "0", "--speed", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group()
        status = HTTP.get(url + "/_sim/status").json()
        assert status["speed"] == 600 and status["total"] > 2000
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err
