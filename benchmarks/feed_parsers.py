"""Which feed parser: speed and what each one extracts, against feedparser, on the same documents.

    python3 benchmarks/feed_parsers.py [--repeat 5] [--details]

Documents: the recorded feeds in ../shared/fixtures (when present), the simulator's feeds, and a
set of ill-formed and oddly encoded feeds (bad XML, a wrong declared encoding, Latin-1, a BOM,
CDATA, entities, HTML in summaries, missing dates, relative links). Each parser's entries are put
in the shape `RssSource` stores (id, link, title, text, date, author, tags) and compared field by
field with feedparser's. fastfeedparser and feedparser-rs are optional here: a parser that is
not installed is left out of the table.
"""

from __future__ import annotations

import argparse
import calendar
import io
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
FIELDS = ("id", "link", "title", "text", "created_at", "author", "tags")

Entry = dict[str, Any]


def _rss(items: str, head: str = '<?xml version="1.0" encoding="UTF-8"?>', ns: str = "") -> bytes:
    return f'{head}<rss version="2.0"{ns}><channel><title>t</title><link>http://example.org/</link>{items}</channel></rss>'.encode()


def _atom(entries: str, attrs: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{attrs}><title>t</title>{entries}</feed>'.encode()


def odd_documents() -> dict[str, tuple[bytes, str]]:
    """Feeds as they come from the wild: (body, content-type)."""
    xml = "application/xml"
    item = (
        "<item><guid>{0}</guid><title>{1}</title><description>{2}</description>"
        "<pubDate>Wed, 06 Dec 2023 04:30:00 GMT</pubDate></item>"
    )
    latin1 = _rss(
        item.format("1", "Fernwärme", "Preis für Wärme"),
        head='<?xml version="1.0" encoding="ISO-8859-1"?>',
    )
    return {
        "unescaped ampersand (bad XML)": (_rss(item.format("1", "AT&T & Putin", "a & b")), xml),
        "unclosed element (bad XML)": (
            _rss(item.format("1", "t", "<b>bold") + item.format("2", "t2", "fine")),
            xml,
        ),
        "truncated mid-item": (
            _rss(item.format("1", "t", "one") + item.format("2", "t2", "two"))[:-60],
            xml,
        ),
        "declared UTF-8, bytes Latin-1": (
            _rss(item.format("1", "Fernwärme", "Preis")).decode().encode("latin-1"),
            xml,
        ),
        "declared Latin-1, bytes Latin-1": (latin1.decode().encode("latin-1"), xml),
        "declared Latin-1, header says utf-8": (
            latin1.decode().encode("latin-1"),
            "application/rss+xml; charset=utf-8",
        ),
        "windows-1252 quotes declared": (
            _rss(
                item.format("1", "\u201cquoted\u201d", "5 \u20ac"),
                head='<?xml version="1.0" encoding="windows-1252"?>',
            )
            .decode()
            .encode("cp1252"),
            xml,
        ),
        "UTF-8 BOM": (b"\xef\xbb\xbf" + _rss(item.format("1", "Путин", "тепло")), xml),
        "UTF-16 with BOM": (
            _rss(item.format("1", "Путин", "тепло"), head='<?xml version="1.0" encoding="UTF-16"?>')
            .decode()
            .encode("utf-16"),
            xml,
        ),
        "CDATA description": (
            _rss(item.format("1", "t", "<![CDATA[<p>Hello <b>world</b> &amp; more</p>]]>")),
            xml,
        ),
        "CDATA title": (_rss(item.format("1", "<![CDATA[A <i>title</i>]]>", "d")), xml),
        "HTML named entities undeclared": (
            _rss(item.format("1", "caf&eacute;", "a&nbsp;b &mdash; c")),
            xml,
        ),
        "numeric entities": (_rss(item.format("1", "caf&#233;", "&#8212; &#x1F600;")), xml),
        "double-escaped HTML": (
            _rss(item.format("1", "A &amp;amp; B", "&lt;p&gt;x &amp;amp; y&lt;/p&gt;")),
            xml,
        ),
        "HTML in atom summary and content": (
            _atom(
                '<entry><id>1</id><title type="html">&lt;b&gt;Bold&lt;/b&gt; title</title>'
                '<summary type="html">&lt;p&gt;summary&lt;/p&gt;</summary>'
                '<content type="html">&lt;p&gt;content &lt;script&gt;x()&lt;/script&gt;&lt;/p&gt;</content>'
                "<published>2024-01-02T03:04:05Z</published></entry>"
                '<entry><id>2</id><title>plain &lt;3</title><content type="text">a &lt;b&gt; c</content>'
                "<updated>2024-01-02T03:04:05+02:00</updated></entry>"
            ),
            xml,
        ),
        "xhtml content": (
            _atom(
                '<entry><id>1</id><title>t</title><content type="xhtml"><div '
                'xmlns="http://www.w3.org/1999/xhtml"><p>x <b>y</b></p></div></content>'
                "<updated>2024-01-02T03:04:05Z</updated></entry>"
            ),
            xml,
        ),
        "missing dates": (
            _rss("<item><guid>1</guid><title>t</title><description>d</description></item>"),
            xml,
        ),
        "unreadable date": (
            _rss(
                "<item><guid>1</guid><pubDate>the 5th of May</pubDate><description>x</description></item>"
            ),
            xml,
        ),
        "odd RFC 822 dates": (
            _rss(
                "<item><guid>1</guid><pubDate>Wed, 06 Dec 2023 04:30:00 EST</pubDate>"
                "<description>x</description></item>"
                "<item><guid>2</guid><pubDate>6 Dec 2023 04:30 +0100</pubDate><description>y</description></item>"
                "<item><guid>3</guid><dc:date>2020-01-02T03:04:05Z</dc:date><description>z</description></item>",
                ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"',
            ),
            xml,
        ),
        "relative links with xml:base": (
            _atom(
                '<entry><id>1</id><link href="/entry/3"/><content type="html">x</content>'
                "<updated>2024-01-02T03:04:05Z</updated></entry>",
                ' xml:base="http://example.org/"',
            ),
            xml,
        ),
        "relative links without base": (
            _rss(
                '<item><guid isPermaLink="false">g</guid><link>/item/1</link><description>x</description></item>'
            ),
            xml,
        ),
        "guid as link / isPermaLink false": (
            _rss(
                "<item><guid>http://x/1</guid><description>a</description></item>"
                '<item><guid isPermaLink="false">abc</guid><description>b</description></item>'
            ),
            xml,
        ),
        "no id, no link": (
            _rss("<item><title>only a title</title><description>and text</description></item>"),
            xml,
        ),
        "rss author, dc:creator, source": (
            _rss(
                "<item><guid>1</guid><author>mark@example.org (Mark)</author><description>a</description></item>"
                "<item><guid>2</guid><dc:creator>Bob</dc:creator><description>b</description></item>"
                '<item><guid>3</guid><source url="https://www.tag24.de">TAG24</source><description>c</description></item>',
                ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"',
            ),
            xml,
        ),
        "categories": (
            _rss(
                '<item><guid>1</guid><category domain="d">Misc</category><category>  two words </category>'
                "<category></category><description>a</description></item>"
            ),
            xml,
        ),
        "content:encoded beside description": (
            _rss(
                "<item><guid>1</guid><description>short</description><content:encoded>"
                "&lt;p&gt;long text&lt;/p&gt;</content:encoded></item>",
                ns=' xmlns:content="http://purl.org/rss/1.0/modules/content/"',
            ),
            xml,
        ),
        "atom author with email, source title": (
            _atom(
                "<entry><id>1</id><author><name>N</name><email>e@x</email></author>"
                '<content type="html">x</content><updated>2024-01-02T03:04:05Z</updated></entry>'
                "<entry><id>2</id><source><title>Src</title></source><content>y</content>"
                "<updated>2024-01-02T03:04:05Z</updated></entry>"
            ),
            xml,
        ),
        "rss 1.0": (
            b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            b'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="x">'
            b'<title>t</title></channel><item rdf:about="http://x/1"><title>t1</title><link>http://x/1</link>'
            b"<description>d1</description><dc:date>2024-01-02T03:04:05Z</dc:date></item></rdf:RDF>",
            xml,
        ),
        "atom 0.3": (
            b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title><entry><id>1</id><title>t</title>'
            b'<link rel="alternate" type="text/html" href="http://x/1"/><issued>2004-01-02T03:04:05Z</issued>'
            b'<content type="text/html" mode="escaped">&lt;p&gt;x&lt;/p&gt;</content></entry></feed>',
            xml,
        ),
        "control characters in text": (_rss(item.format("1", "t", "bell\x07 and esc")), xml),
        "an HTML page, not a feed": (
            b"<!DOCTYPE html><html><head><title>Not found</title></head><body><p>gone</p></body></html>",
            "text/html",
        ),
    }


def simulator_documents() -> dict[str, tuple[bytes, str]]:
    import httpx

    from monitor.simulator.corpus import BURST_WINDOW
    from monitor.simulator.server import Simulator

    paths = {
        "sim all.atom (1,000)": "/feeds/all.atom?limit=1000",
        "sim google news rss": "/rss/search?q=Trump+Putin&hl=en-US&gl=US&ceid=US:en",
        "sim mastodon tag rss": "/tags/TrumpPutin.rss?limit=100",
        "sim reddit atom": "/r/worldnews/new/.rss?limit=100",
    }
    out = {}
    # Links as a real platform writes them (a public host), and as the simulator serves them by
    # default (its loopback address, whose links feedparser-rs blanks).
    for origin, label in (("https://platform.example", ""), (None, ", loopback links")):
        with Simulator(link_origin=origin) as sim, httpx.Client(timeout=60) as client:
            sim.clock.set_offset(BURST_WINDOW[1] + 3600)
            sim.clock.pause()
            for name, path in paths.items():
                if origin is None and "1,000" not in name:
                    continue
                resp = client.get(sim.url + path)
                out[name + label] = (resp.content, resp.headers["content-type"])
    return out


def fixture_documents() -> dict[str, tuple[bytes, str]]:
    names = [
        "rss_atom/feedparser_docs_example_atom10.xml",
        "rss_atom/feedparser_docs_example_rss20.xml",
        "rss_atom/google_news_search_chemnitz.rss.xml",
        "reddit/r_kubernetes.rss.atom.xml",
        "mastodon/hachyderm_tag_kubernetes.rss.xml",
    ]
    return {
        f"fixture {n}": ((FIXTURES / n).read_bytes(), "application/xml")
        for n in names
        if (FIXTURES / n).exists()
    }


# --- the parsers, each put in one shape ---------------------------------------------------------


def _text(body: str, is_html: bool) -> str:
    from monitor.core.text import html_to_text, sanitize

    return html_to_text(body) if is_html else sanitize(" ".join(body.split()))


def _when_struct(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = getattr(entry, key, None) if not isinstance(entry, dict) else entry.get(key)
        if st:
            return datetime.fromtimestamp(calendar.timegm(st), UTC)
    return None


def via_feedparser_api(parsed: Any) -> list[Entry]:
    """feedparser and feedparser-rs share an API: one mapping for both (as rss.py does)."""
    from monitor.sources.rss import feedparser_entry

    out = []
    for e in parsed.entries:
        fe = feedparser_entry(e)
        title = _text(fe.title, fe.title_is_html) if fe.title else None
        out.append(
            {
                "id": fe.id,
                "link": fe.link,
                "title": title or None,
                "text": _text(fe.body, fe.body_is_html),
                "created_at": fe.created_at,
                "author": fe.author,
                "tags": fe.tags,
            }
        )
    return out


def run_feedparser(body: bytes, content_type: str) -> list[Entry] | None:
    import feedparser

    parsed = feedparser.parse(
        io.BytesIO(body),
        sanitize_html=False,
        resolve_relative_uris=False,
        response_headers={"content-type": content_type},
    )
    if parsed.bozo and not parsed.entries:
        return None
    return via_feedparser_api(parsed)


def run_feedparser_rs(body: bytes, content_type: str) -> list[Entry] | None:
    import feedparser_rs

    parsed = feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)
    if parsed.bozo and not parsed.entries:
        return None
    return via_feedparser_api(parsed)


def run_fastfeedparser(body: bytes, content_type: str) -> list[Entry] | None:
    import fastfeedparser

    try:
        parsed = fastfeedparser.parse(body)
    except Exception:  # noqa: BLE001 - it raises on what it cannot read
        return None
    out = []
    for e in parsed.get("entries", []):
        content = e.get("content") or []
        body_text, kind = (
            (content[0].get("value", ""), content[0].get("type") or "html")
            if content
            else (e.get("description", ""), "html")
        )
        when = e.get("published") or e.get("updated")
        created = None
        if when:
            created = datetime.fromisoformat(when)
            created = (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC)
        title = e.get("title")
        out.append(
            {
                "id": e.get("id") or None,
                "link": e.get("link") or None,
                "title": _text(title, True) if title else None,
                "text": _text(body_text or "", "html" in kind),
                "created_at": created,
                "author": e.get("author") or None,
                "tags": tuple(t["term"] for t in e.get("tags") or [] if t.get("term")),
            }
        )
    return out


def run_monitor(body: bytes, content_type: str) -> list[Entry] | None:
    """What RssSource uses: feedparser-rs, and feedparser for what it declines."""
    from monitor.sources.rss import parse_entries

    entries, _damage = parse_entries(body, content_type)
    if entries is None:
        return None
    return [
        {
            "id": fe.id,
            "link": fe.link,
            "title": (_text(fe.title, fe.title_is_html) if fe.title else None) or None,
            "text": _text(fe.body, fe.body_is_html),
            "created_at": fe.created_at,
            "author": fe.author,
            "tags": fe.tags,
        }
        for fe in entries
    ]


PARSERS: dict[str, Callable[[bytes, str], list[Entry] | None]] = {
    "feedparser": run_feedparser,
    "feedparser-rs": run_feedparser_rs,
    "fastfeedparser": run_fastfeedparser,
    "monitor": run_monitor,
}


def _available() -> dict[str, Callable[[bytes, str], list[Entry] | None]]:
    out = {}
    for name, fn in PARSERS.items():
        try:
            __import__(name.replace("-", "_") if name != "monitor" else "feedparser_rs")
        except ImportError:
            print(f"({name} is not installed: left out)")
            continue
        out[name] = fn
    return out


def _compare(ref: list[Entry] | None, got: list[Entry] | None) -> list[str]:
    if ref is None or got is None:
        return (
            []
            if ref is got
            else [
                f"reads {'nothing' if got is None else f'{len(got)} entries'} "
                f"(feedparser: {'nothing' if ref is None else len(ref)})"
            ]
        )
    if len(ref) != len(got):
        return [f"{len(got)} entries (feedparser: {len(ref)})"]
    diffs = []
    for a, b in zip(ref, got, strict=False):
        for f in FIELDS:
            if a[f] != b[f]:
                diffs.append(f"{f}: {str(b[f])[:70]!r} (feedparser: {str(a[f])[:70]!r})")
    return diffs


def _timing(raw: Callable[[bytes, str], Any], body: bytes, ct: str, n: int, repeat: int) -> float:
    """µs per entry, best of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        raw(body, ct)
        best = min(best, time.perf_counter() - t0)
    return best / max(n, 1) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--details", action="store_true", help="print every differing field")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    parsers = _available()
    docs = {**fixture_documents(), **simulator_documents(), **odd_documents()}

    import feedparser

    # Parse only, as each library is called; "monitor" is rss.parse_entries: feedparser-rs, the
    # checks that send a document to feedparser, and the entries built (or feedparser's time).
    raws: dict[str, Callable[[bytes, str], Any]] = {
        "feedparser": lambda b, ct: feedparser.parse(
            io.BytesIO(b),
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers={"content-type": ct},
        )
    }
    if "feedparser-rs" in parsers:
        import feedparser_rs

        raws["feedparser-rs"] = lambda b, ct: feedparser_rs.parse(
            b, sanitize_html=False, resolve_relative_uris=False
        )
    if "fastfeedparser" in parsers:
        import fastfeedparser

        raws["fastfeedparser"] = lambda b, ct: fastfeedparser.parse(b)
    if "monitor" in parsers:
        from monitor.sources.rss import parse_entries

        raws["monitor"] = parse_entries

    print("µs per entry (best of", args.repeat, "runs):")
    for name, (body, ct) in docs.items():
        if not name.startswith(("sim", "fixture")):
            continue
        n = len(run_feedparser(body, ct) or [])
        cells = [f"{p} {_timing(raws[p], body, ct, n, args.repeat):7.1f}" for p in parsers]
        print(f"  {name:58} {n:5} entries  " + "  ".join(cells))

    print("\nagreement with feedparser, per document (entries in RssSource's shape):")
    totals: dict[str, Counter[str]] = {p: Counter() for p in parsers if p != "feedparser"}
    for name, (body, ct) in docs.items():
        ref = run_feedparser(body, ct)
        line = []
        for p in totals:
            try:
                got = parsers[p](body, ct)
                diffs = _compare(ref, got)
            except Exception as exc:  # noqa: BLE001 - a crash is a finding
                diffs = [f"raised {type(exc).__name__}: {str(exc)[:60]}"]
            fields = Counter(
                d.split(":")[0] if ":" in d.split(" ")[0] else "entries" for d in diffs
            )
            totals[p].update(fields)
            totals[p]["documents"] += 1
            totals[p]["documents differing"] += bool(diffs)
            line.append(
                f"{p}: "
                + ("same" if not diffs else ", ".join(f"{k}×{v}" for k, v in fields.items()))
            )
            if args.details and diffs:
                for d in diffs[:6]:
                    print(f"      {p} | {name} | {d}")
        print(f"  {name:40} " + " | ".join(line))
    print()
    for p, c in totals.items():
        print(
            f"{p}: {c['documents differing']} of {c['documents']} documents differ; fields: "
            + ", ".join(f"{k} {v}" for k, v in c.items() if not k.startswith("documents"))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
