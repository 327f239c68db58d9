"""Reading RSS/Atom: what a feed's entries become, whichever parser read them.

feedparser-rs reads feeds; what it declines (damaged XML, other charsets, xml:base, links it
blanks) goes to feedparser. Either way a user must get the same posts: the ids that dedupe them,
their links, titles, text, dates, authors and tags.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from monitor.core.text import html_to_text
from monitor.sources.rss import feedparser_entry, parse_entries, to_post

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
XML = "application/xml"


def posts(body: bytes, content_type: str = XML) -> list:
    entries, damage = parse_entries(body, content_type)
    assert entries is not None, damage
    return [to_post(e) for e in entries]


def seen(entries: list) -> list[tuple]:
    """What a user gets of each entry: its id, link, title and text as shown, date, author, tags."""
    out = []
    for e in entries:
        p = to_post(e)
        out.append(
            (
                p.native_id,
                p.url,
                p.title,
                html_to_text(p.text) if p.is_html else p.text,
                e.created_at,
                p.author,
                p.tags,
            )
        )
    return out


def by_feedparser(body: bytes, content_type: str = XML) -> list[tuple]:
    parsed = feedparser.parse(
        io.BytesIO(body),
        sanitize_html=False,
        resolve_relative_uris=False,
        response_headers={"content-type": content_type},
    )
    return seen([feedparser_entry(e) for e in parsed.entries])


@pytest.fixture
def feedparser_unused(monkeypatch):
    """Fails the test if the fallback parser is asked: the document was read by feedparser-rs."""

    def refuse(*a, **k):
        raise AssertionError("feedparser was used")

    monkeypatch.setattr("monitor.sources.rss.feedparser.parse", refuse)


def rss(items: str, ns: str = "", head: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    return (
        f'{head}<rss version="2.0"{ns}><channel><title>t</title>{items}</channel></rss>'
    ).encode()


def atom(entries: str, attrs: str = "") -> bytes:
    return f'<feed xmlns="http://www.w3.org/2005/Atom"{attrs}><title>t</title>{entries}</feed>'.encode()


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "mastodon/hachyderm_tag_kubernetes.rss.xml",
        "rss_atom/google_news_search_chemnitz.rss.xml",
        "reddit/r_kubernetes.rss.atom.xml",
        "rss_atom/feedparser_docs_example_rss20.xml",
    ],
)
def test_recorded_feeds_read_without_feedparser_as_feedparser_reads_them(
    name: str, feedparser_unused
) -> None:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} is not beside the project")
    body = path.read_bytes()
    entries, damage = parse_entries(body, XML)
    assert damage is None and entries and all(e.created_at is not None and e.id for e in entries)


def test_recorded_feeds_give_the_posts_a_user_expects() -> None:
    news = FIXTURES / "rss_atom/google_news_search_chemnitz.rss.xml"
    mastodon = FIXTURES / "mastodon/hachyderm_tag_kubernetes.rss.xml"
    if not (news.exists() and mastodon.exists()):
        pytest.skip("fixtures are not beside the project")
    first = posts(news.read_bytes())[0]
    assert first.author == "TAG24"  # Google News names the publisher in <source>
    assert first.title.startswith("Chemnitz: Preisschock") and "Fernwärme" in first.title
    assert first.url.startswith(
        "https://news.google.com/rss/articles/"
    ) and first.created_at == utc(2023, 12, 6, 4, 30)
    toot = posts(mastodon.read_bytes())[0]
    assert toot.native_id == toot.url == "https://ioc.exchange/@jon404/111544891736153138"
    assert (
        "kubernetes" in toot.tags
        and toot.is_html
        and "<p>Shameless blog series plug</p>" in toot.text
    )


def test_every_recorded_feed_reads_the_same_as_by_feedparser() -> None:
    names = [
        "mastodon/hachyderm_tag_kubernetes.rss.xml",
        "rss_atom/google_news_search_chemnitz.rss.xml",
        "reddit/r_kubernetes.rss.atom.xml",
        "rss_atom/feedparser_docs_example_rss20.xml",
        "rss_atom/feedparser_docs_example_atom10.xml",
    ]
    found = [FIXTURES / n for n in names if (FIXTURES / n).exists()]
    if not found:
        pytest.skip("fixtures are not beside the project")
    for path in found:
        body = path.read_bytes()
        assert seen(parse_entries(body, XML)[0]) == by_feedparser(body), path.name


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all.atom?limit=1000",
        "/rss/search?q=Trump+Putin&hl=en-US&gl=US&ceid=US:en",
        "/tags/TrumpPutin.rss?limit=100",
        "/r/worldnews/new/.rss?limit=100",
    ],
)
def test_simulator_feeds_keep_their_links_on_loopback_and_on_a_public_origin(
    http, path: str
) -> None:
    """feedparser-rs blanks links to loopback and private hosts; a feed served from one (our
    simulator, a company intranet) still gets every link, and a public one reads the same."""
    from monitor.simulator.corpus import BURST_WINDOW
    from monitor.simulator.server import Simulator

    read = {}
    for origin in (None, "https://platform.example"):
        with Simulator(link_origin=origin) as sim:
            sim.clock.set_offset(BURST_WINDOW[1] + 3600)
            sim.clock.pause()
            resp, here = http.get(sim.url + path), sim.url
        entries, damage = parse_entries(resp.content, resp.headers["content-type"])
        assert damage is None and len(entries) >= 50
        assert all(e.link and e.link.startswith(origin or here) for e in entries)
        assert seen(entries) == by_feedparser(resp.content, resp.headers["content-type"])
        read[origin] = repr(seen(entries)).replace(origin or here, "ORIGIN")
    assert read[None] == read["https://platform.example"]


CASES = {
    "html title and plain title": (
        rss(
            "<item><guid>1</guid><title>A &amp;amp; B &lt;b&gt;x&lt;/b&gt;</title><description>d</description></item>"
            "<item><guid>2</guid><title>AT&amp;T and Putin</title><description>d</description></item>"
            "<item><guid>3</guid><title>x &lt;3 y</title><description>d</description></item>"
        ),
        lambda ps: [p.title for p in ps] == ["A & B x", "AT&T and Putin", "x <3 y"],
    ),
    "guid as link unless isPermaLink is false": (
        rss(
            "<item><guid>http://x/1</guid><description>a</description></item>"
            '<item><guid isPermaLink="false">abc</guid><description>b</description></item>'
            '<item><link>http://x/l?a=1&amp;b=2</link><guid isPermaLink="false">g</guid>'
            "<description>c</description></item>"
        ),
        lambda ps: (
            [(p.native_id, p.url) for p in ps]
            == [("http://x/1", "http://x/1"), ("abc", None), ("g", "http://x/l?a=1&b=2")]
        ),
    ),
    "dates in UTC, a missing one is the time read": (
        rss(
            "<item><guid>1</guid><pubDate>Thu, 05 Sep 2002 00:00:01 +0200</pubDate><description>a</description></item>"
            "<item><guid>2</guid><pubDate>Wed, 06 Dec 2023 04:30:00 EST</pubDate><description>a</description></item>"
            "<item><guid>4</guid><dc:date>2020-01-02T03:04:05Z</dc:date><description>a</description></item>"
            "<item><guid>5</guid><description>no date</description></item>",
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"',
        ),
        lambda ps: (
            [p.created_at for p in ps[:3]]
            == [utc(2002, 9, 4, 22, 0, 1), utc(2023, 12, 6, 9, 30), utc(2020, 1, 2, 3, 4, 5)]
            and abs((ps[3].created_at - datetime.now(UTC)).total_seconds()) < 60
        ),
    ),
    "content, creator, source, categories": (
        rss(
            "<item><guid>1</guid><description>short</description><content:encoded>&lt;p&gt;long  text&lt;/p&gt;"
            '</content:encoded><dc:creator> Bob </dc:creator><category domain="d">Misc</category>'
            "<category>  two words </category><category></category></item>"
            "<item><guid>2</guid><description>plain &amp; simple</description>"
            '<source url="https://www.tag24.de">TAG24</source></item>',
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"',
        ),
        lambda ps: (
            (ps[0].text, ps[0].author, ps[0].tags[0]) == ("<p>long  text</p>", "Bob", "Misc")
            and ps[1].author == "TAG24"
        ),
    ),
    "CDATA and entities": (
        rss(
            "<item><guid>1</guid><title><![CDATA[A <i>title</i>]]></title>"
            "<description><![CDATA[<p>Hello <b>world</b> &amp; more</p>]]></description></item>"
            "<item><guid>2</guid><title>caf&#233; &#x1F600;</title><description>x</description></item>"
        ),
        lambda ps: (
            (ps[0].title, ps[0].text, ps[1].title)
            == ("A title", "<p>Hello <b>world</b> &amp; more</p>", "café 😀")
        ),
    ),
    "atom links, authors, types": (
        atom(
            '<entry><id>1</id><title type="html">Bold news</title><summary>s</summary>'
            '<link href="http://a/1" rel="self"/><link href="http://a/2"/><updated>2005-11-09T11:56:34Z</updated>'
            "<author><name>N</name><email>e@x</email></author></entry>"
            '<entry><id>2</id><title>t</title><content type="text">hi &lt;b&gt;</content>'
            "<published>2005-11-09T11:56:34.5+02:00</published><source><title>Src</title></source></entry>"
        ),
        lambda ps: (
            [(p.url, p.title, p.author) for p in ps]
            == [("http://a/2", "Bold news", "N (e@x)"), ("2", "t", "Src")]
            and ps[1].text == "hi <b>"
            and ps[1].created_at == utc(2005, 11, 9, 9, 56, 34)
        ),
    ),
    "an entry with neither id nor link is still one post": (
        rss("<item><title>only a title</title><description>and text</description></item>"),
        lambda ps: ps[0].native_id.startswith("sha1:") and ps[0].title == "only a title",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_plain_feeds_are_read_without_feedparser_into_the_posts_a_user_sees(
    name: str, feedparser_unused
) -> None:
    body, check = CASES[name]
    assert check(posts(body)), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_plain_feeds_read_the_same_as_by_feedparser(name: str) -> None:
    body, _check = CASES[name]
    assert seen(parse_entries(body, XML)[0]) == by_feedparser(body)


OFF_THE_FAST_PATH = {
    "damaged XML": (
        rss(
            "<item><guid>1</guid><title>AT&T & Putin</title><description>a & b</description></item>"
        ),
        lambda ps: (ps[0].title, ps[0].text) == ("AT&T; & Putin", "a & b"),
    ),
    "declared UTF-8, bytes Latin-1": (
        rss("<item><guid>1</guid><title>Fernwärme</title><description>x</description></item>")
        .decode()
        .encode("latin-1"),
        lambda ps: ps[0].title == "Fernwärme",
    ),
    "xml:base": (
        atom(
            '<entry><id>1</id><link href="/entry/3"/><content type="html">x</content></entry>',
            ' xml:base="http://example.org/"',
        ),
        lambda ps: ps[0].url == "http://example.org/entry/3",
    ),
    "a link to a private host": (
        rss(
            "<item><guid>1</guid><link>http://10.0.0.7/news/1</link><description>x</description>"
            "</item><item><guid>2</guid><link>http://intranet.corp/a</link><description>y"
            "</description></item>"
        ),
        lambda ps: [p.url for p in ps] == ["http://10.0.0.7/news/1", "http://intranet.corp/a"],
    ),
    "atom titles that look like markup": (
        atom(
            "<entry><id>1</id><title>a &amp;lt;b&amp;gt; c</title><content>x</content></entry>"
            '<entry><id>2</id><title type="html">A &lt;b&gt;bold&lt;/b&gt;</title><content>y</content></entry>'
        ),
        lambda ps: [p.title for p in ps] == ["a &lt;b&gt; c", "A bold"],
    ),
    "windows-1251 by the HTTP header": (
        rss(
            "<item><guid>1</guid><title>Путин</title><description>x</description></item>",
            head='<?xml version="1.0"?>',
        )
        .decode()
        .encode("cp1251"),
        lambda ps: ps[0].title == "Путин",
    ),
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", sorted(OFF_THE_FAST_PATH))
def test_what_feedparser_rs_declines_or_misreads_is_read_by_feedparser(name: str) -> None:
    body, check = OFF_THE_FAST_PATH[name]
    content_type = "application/rss+xml; charset=windows-1251" if "1251" in name else XML
    entries, _damage = parse_entries(body, content_type)
    assert entries and check([to_post(e) for e in entries]), name


def test_a_truncated_feed_keeps_what_parsed_and_says_it_was_damaged() -> None:
    body = rss(
        "<item><guid>1</guid><description>one</description></item>"
        "<item><guid>2</guid><description>two</description></item>"
    )[:-40]
    entries, damage = parse_entries(body, XML)
    assert damage and [e.id for e in entries][:1] == ["1"]
    entries, damage = parse_entries(b"<html><body>not a feed", "text/html")
    assert entries is None and damage


def test_entries_already_stored_are_left_out_before_they_become_posts(feedparser_unused) -> None:
    """`known` gets the ids exactly as the entries carry them; only unknown or id-less entries are kept."""
    body = atom(
        '<entry><id> a </id><content type="html">one</content></entry>'
        '<entry><id>b</id><content type="html">two</content></entry>'
        '<entry><link href="http://x/c"/><content type="html">no id</content></entry>'
        '<entry><id>d</id><content type="html">four</content></entry>'
    )
    asked: list[list[str]] = []

    def known(ids):
        asked.append(list(ids))
        return {"a", "d", "zzz"}

    entries, _ = parse_entries(body, XML, known)
    assert asked == [["a", "b", "d"]]
    assert [(e.id, e.body) for e in entries] == [("b", "two"), (None, "no id")]
    assert len(parse_entries(body, XML, lambda ids: set())[0]) == 4


def test_a_repeated_feed_is_not_read_again_and_still_counts_as_already_stored(
    sim, http, tmp_path
) -> None:
    from datetime import timedelta

    from monitor.ingest.poll import Ingestor
    from monitor.sources.rss import RssSettings, RssSource
    from monitor.store.db import Store

    store = Store(f"sqlite:///{tmp_path}/m.db")
    topic = type(
        "T", (), dict(name="t", title=None, hashtags=[], keywords=[], exclude=[], languages=None)
    )()
    source = RssSource(
        RssSettings(
            name="all",
            kind="rss",
            url=f"{sim.url}/feeds/all.atom?limit=300",
            match="all",
            backfill=timedelta(days=3650),
        ),
        [topic],
        http,
    )
    ingestor = Ingestor(store, [topic])
    first = ingestor.poll(source)
    assert first.outcome == "ok" and first.new_posts == 300
    # half an hour later: new posts on top of the feed
    sim.clock.set_offset(sim.clock.offset_s() + 1800)
    built: list[int] = []
    real = source.fetch

    def fetch(state, ctx):
        batch = real(state, ctx)
        built.append(len(batch.posts))
        return batch

    source.fetch = fetch
    second = ingestor.poll(source)
    assert second.outcome == "ok" and 0 < second.new_posts < 300
    assert built == [second.new_posts]  # only the new entries were built into posts
    assert second.duplicates == 300 - second.new_posts  # the rest still count as already stored
    with store.read() as conn:
        total, distinct = conn.exec_driver_sql(
            "SELECT count(*), count(DISTINCT native_id) FROM post"
        ).one()
    assert total == distinct == first.new_posts + second.new_posts
    store.close()
