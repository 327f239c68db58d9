"""The fast RSS/Atom reader must give exactly what feedparser gives, or decline.

A reader that silently differed from feedparser would change which posts are stored and how
they read; so every document here is read both ways and compared entry by entry, and the
documents outside the fast subset must be declined (then feedparser reads them, as before).
"""

from __future__ import annotations

import io
from pathlib import Path

import feedparser
import pytest

from monitor.sources.feedxml import read_feed
from monitor.sources.rss import feedparser_entry, parse_entries

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def slow(body: bytes, content_type: str = "application/xml"):
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False,
                              response_headers={"content-type": content_type})
    return [feedparser_entry(e) for e in parsed.entries]


def assert_same(body: bytes, content_type: str = "application/xml") -> list:
    fast = read_feed(body, content_type)
    assert fast is not None, "the fast reader declined a plain feed"
    assert fast == slow(body, content_type)
    return fast


def rss(items: str, ns: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"{ns}><channel><title>t</title>'
            f"{items}</channel></rss>").encode()


def atom(entries: str) -> bytes:
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{entries}</feed>'.encode()


@pytest.mark.parametrize("name", ["mastodon/hachyderm_tag_kubernetes.rss.xml",
                                  "rss_atom/google_news_search_chemnitz.rss.xml",
                                  "reddit/r_kubernetes.rss.atom.xml"])
def test_recorded_feeds_read_the_same_as_feedparser(name: str) -> None:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} is not beside the project")
    entries = assert_same(path.read_bytes())
    assert entries and all(e.created_at is not None and e.id for e in entries)


@pytest.mark.parametrize("path", ["/feeds/all.atom?limit=1000", "/rss/search?q=Trump+Putin&hl=en-US&gl=US&ceid=US:en",
                                  "/tags/TrumpPutin.rss?limit=100", "/r/worldnews/new/.rss?limit=100"])
def test_every_simulator_feed_reads_the_same_as_feedparser(sim, http, path: str) -> None:
    resp = http.get(sim.url + path)
    entries = assert_same(resp.content, resp.headers["content-type"])
    assert len(entries) >= 50
    assert any(not e.body.isascii() for e in entries) or "search" in path or "tags" in path


CASES = {
    "html title and plain title": rss(
        "<item><guid>1</guid><title>A &amp;amp; B &lt;b&gt;x&lt;/b&gt;</title><description>d</description></item>"
        "<item><guid>2</guid><title>AT&amp;T and Putin</title><description>d</description></item>"
        "<item><guid>3</guid><title>x &lt;3 y</title><description>d</description></item>"),
    "guid as link unless isPermaLink is false": rss(
        '<item><guid>http://x/1</guid><description>a</description></item>'
        '<item><guid isPermaLink="false">abc</guid><description>b</description></item>'
        '<item><guid ISPERMALINK="True">abc2</guid><description>c</description></item>'
        '<item><link>http://x/l?a=1&amp;amp;b=2&amp;c;</link><guid>g</guid><description>c</description></item>'
        '<item><guid>g5</guid><link></link><description>e</description></item>'),
    "dates": rss(
        "<item><guid>1</guid><pubDate>Thu, 05 Sep 2002 00:00:01 +0200</pubDate><description>a</description></item>"
        "<item><guid>2</guid><pubDate>Wed, 06 Dec 2023 04:30:00 GMT</pubDate><description>a</description></item>"
        "<item><guid>3</guid><pubDate>Wed, 06 Dec 2023 04:30:00 EST</pubDate><description>a</description></item>"
        '<item><guid>4</guid><dc:date>2020-01-02T03:04:05Z</dc:date><description>a</description></item>'
        "<item><guid>5</guid><description>no date</description></item>",
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'),
    "content, creator, source, categories, whitespace": rss(
        '<item><guid>1</guid><description>short</description><content:encoded>&lt;p&gt;long  text&lt;/p&gt;'
        '</content:encoded><dc:creator> Bob </dc:creator><category domain="d">Misc</category>'
        "<category>  two words </category><category></category></item>"
        '<item><guid>2</guid><description>\n  plain &amp; simple\n two  lines </description>'
        '<source url="https://www.tag24.de">TAG24</source></item>',
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"'),
    "code-page repairs": rss(
        "<item><guid>1</guid><description>\u0093quoted\u0094 costs 5\u0080</description></item>"
        "<item><guid>2</guid><description>FernwÃ¤rme</description></item>"
        "<item><guid>3</guid><description>Fernwärme и Путин</description></item>"),
    "atom links, authors, types": atom(
        '<entry><id>1</id><title type="html">A &lt;b&gt;bold&lt;/b&gt; &amp;amp;</title><summary>s &lt;p&gt;</summary>'
        '<link href="http://a/1" rel="self"/><link href="http://a/2"/><updated>2005-11-09T11:56:34Z</updated>'
        "<author><name>N</name><email>e@x</email></author></entry>"
        '<entry><id>2</id><title>t</title><content type="text">hi &lt;b&gt;</content>'
        '<link href="http://a/3" rel="alternate" type="application/pdf"/>'
        '<link href="http://a/4" rel="alternate" type="text/html"/><link href="http://a/5"/>'
        "<published>2005-11-09T11:56:34.5+02:00</published><author><email>only@x</email></author></entry>"
        '<entry><id>3</id><content type="html">&lt;p&gt;x&lt;/p&gt;</content><source><title>Src</title></source>'
        '<category term="a" label="L"/><category term=" b "/><published>2005-11-09T11:56:34</published></entry>'
        '<entry><link href="http://a/6"/><summary type="text/html">&lt;i&gt;m&lt;/i&gt;</summary></entry>'
        "<entry><id>5</id><title/></entry>"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tricky_plain_feeds_read_the_same_as_feedparser(name: str) -> None:
    assert assert_same(CASES[name])


DECLINED = {
    "atom xhtml content": atom('<entry><id>1</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                               "x</div></content></entry>"),
    "rss author": rss("<item><guid>1</guid><author>mark@example.org (Mark)</author><description>a</description></item>"),
    "rss 1.0": b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
               b"<item><title>t</title></item></rdf:RDF>",
    "atom 0.3": b'<feed xmlns="http://purl.org/atom/ns#"><entry><id>1</id></entry></feed>',
    "entity definitions": b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaa">]><rss version="2.0"><channel>'
                          b"<item><guid>&a;</guid></item></channel></rss>",
    "latin-1 declared": rss("<item><guid>1</guid><description>x</description></item>").replace(b"UTF-8", b"ISO-8859-1"),
    "truncated": rss("<item><guid>1</guid><description>x</description></item>")[:-20],
    "unreadable date": rss("<item><guid>1</guid><pubDate>the 5th of May</pubDate><description>x</description></item>"),
    "two dates in an atom entry": atom("<entry><id>1</id><published>2005-11-09T11:56:34Z</published>"
                                       "<published>2006-11-09T11:56:34Z</published></entry>"),
    "xml:base (feedparser resolves links against it)": atom(
        '<entry><id>1</id><link href="/entry/3"/><content type="html">x</content></entry>').replace(
        b"<feed ", b'<feed xml:base="http://example.org/" '),
    "two guids in an item": rss("<item><guid>1</guid><guid>2</guid><description>x</description></item>"),
    "markup inside a text element": rss("<item><guid>1</guid><description><p>raw</p></description></item>"),
}


@pytest.mark.filterwarnings("ignore:To avoid breaking existing software:DeprecationWarning")  # feedparser on the bad date
@pytest.mark.parametrize("name", sorted(DECLINED))
def test_documents_outside_the_subset_are_left_to_feedparser(name: str) -> None:
    body = DECLINED[name]
    assert read_feed(body, "application/xml") is None
    entries, damage = parse_entries(body, "application/xml")  # and feedparser still reads them
    if name == "truncated":
        assert damage and entries is not None
    elif name != "atom 0.3":
        assert entries, name


def test_charset_rules_decline_what_is_not_utf8() -> None:
    body = rss("<item><guid>1</guid><description>x</description></item>")
    assert read_feed(body, "application/rss+xml; charset=utf-8") is not None
    assert read_feed(body, "application/rss+xml; charset=windows-1251") is None
    assert read_feed(body, "text/xml") is None  # RFC 3023: US-ASCII when text/* names no charset
    assert read_feed(b"\xef\xbb\xbf" + body, "application/xml") is None


def test_entries_already_stored_are_left_out_unread() -> None:
    """`known` gets the ids exactly as the entries carry them; only unknown or id-less entries are read."""
    body = atom('<entry><id> a </id><content type="html">one</content></entry>'
                '<entry><id>b</id><content type="html">two</content></entry>'
                '<entry><link href="http://x/c"/><content type="html">no id</content></entry>'
                '<entry><id>d</id><content type="html">four</content></entry>')
    asked: list[list[str]] = []

    def known(ids):
        asked.append(list(ids))
        return {"a", "d", "zzz"}

    entries = read_feed(body, "application/xml", known)
    assert asked == [["a", "b", "d"]]
    assert [(e.id, e.body) for e in entries] == [("b", "two"), (None, "no id")]
    everything = read_feed(body, "application/xml")
    assert read_feed(body, "application/xml", lambda ids: set()) == everything and len(everything) == 4


def test_a_repeated_feed_is_not_read_again_and_still_counts_as_already_stored(sim, http, tmp_path) -> None:
    from datetime import timedelta

    from monitor.ingest import Ingestor
    from monitor.sources.rss import RssSettings, RssSource
    from monitor.store import Store

    store = Store(f"sqlite:///{tmp_path}/m.db")
    topic = type("T", (), dict(name="t", title=None, hashtags=[], keywords=[], exclude=[], languages=None))()
    source = RssSource(RssSettings(name="all", kind="rss", url=f"{sim.url}/feeds/all.atom?limit=300", match="all",
                                   backfill=timedelta(days=3650)), [topic], http)
    ingestor = Ingestor(store, [topic])
    first = ingestor.poll(source)
    assert first.outcome == "ok" and first.new_posts == 300
    sim.clock.set_offset(sim.clock.offset_s() + 1800)  # half an hour later: new posts on top of the feed
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
        total, distinct = conn.exec_driver_sql("SELECT count(*), count(DISTINCT native_id) FROM post").one()
    assert total == distinct == first.new_posts + second.new_posts
    store.close()
