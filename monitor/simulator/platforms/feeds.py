"""The RSS / Atom family: Google News search, Mastodon tag RSS, Reddit's Atom, and everything as Atom.

    GET /rss/search?q=...&hl=en-US&gl=US&ceid=US:en   Google News search RSS 2.0
    GET /tags/<tag>.rss                               Mastodon tag RSS 2.0
    GET /r/<sub>/new/.rss                             Reddit Atom
    GET /feeds/all.atom                               every platform as Atom 1.0

(see `monitor.simulator.server`'s docstring for limits, ETags and what counts as served).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlencode

from monitor.simulator.corpus import CorpusPost, publisher_url
from monitor.simulator.platforms import per_simulator
from monitor.simulator.platforms.markup import charrefs, iso, paragraphs, rfc822, xml_text
from monitor.simulator.server import (
    _WORD,
    Request,
    Response,
    _feed,
    _permalink,
    _reddit_permalink,
    atom_id,
    route,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from monitor.simulator.server import Simulator

_OPERATOR = re.compile(r"^-|:")


def _query_words(q: str) -> set[str]:
    """Google-style query to plain words: operators (`when:1h`, `site:`, `-x`) and OR are dropped."""
    words: set[str] = set()
    for token in q.replace('"', " ").split():
        if token in ("OR", "AND") or _OPERATOR.search(token):
            continue
        words.update(_WORD.findall(token.casefold()))
    return words


@route("GET", r"/rss/search")
def google_news_search(sim: Simulator, req: Request) -> Response:
    q = req.arg("q", "") or ""
    hl, gl, ceid = req.arg("hl", "en-US"), req.arg("gl", "US"), req.arg("ceid", "US:en")
    words = _query_words(q)
    index = sim._index
    posts = index.platform("news").newest(
        req.offset_s, 100, keep=lambda p: not words or bool(words & index.words[p.id])
    )
    base, epoch = req.base_url, sim.clock.epoch
    search = f"{base}/search?" + urlencode(
        {"q": q, "hl": hl or "", "gl": gl or "", "ceid": ceid or ""}
    )
    build = rfc822(posts[0].created_at(epoch)) if posts else rfc822(epoch)
    title = f'"{q}" - Google News'
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss xmlns:media="http://search.yahoo.com/mrss/" version="2.0"><channel>'
        f"<generator>NFE/5.0</generator><title>{xml_text(title)}</title>"
        f"<link>{xml_text(search)}</link><language>{xml_text(hl or 'en-US')}</language>"
        f"<lastBuildDate>{build}</lastBuildDate><description>Google News</description>\n"
    )
    items = [(p.id, _news_item(p, base, epoch)) for p in posts]
    return _feed(items, posts, sim, head, "</channel></rss>\n", "application/xml; charset=utf-8")


def _news_item(post: CorpusPost, base: str, epoch: datetime) -> str:
    title = post.title or post.text
    headline, _, publisher = title.rpartition(" - ")
    if not headline:
        headline, publisher = title, post.author
    link = f"{base}/articles/{quote(post.id)}?oc=5"
    description = (
        f'<a href="{html.escape(link)}" target="_blank">{html.escape(headline, quote=False)}</a>'
        f'&nbsp;&nbsp;<font color="#6f6f6f">{html.escape(publisher, quote=False)}</font>'
    )
    return (
        f"<item><title>{xml_text(title)}</title><link>{xml_text(link)}</link>"
        f'<guid isPermaLink="false">{xml_text(post.id)}</guid>'
        f"<pubDate>{rfc822(post.created_at(epoch))}</pubDate>"
        f"<description>{xml_text(charrefs(description))}</description>"
        f'<source url="{xml_text(publisher_url(publisher), attr=True)}">{xml_text(publisher)}</source></item>\n'
    )


@route("GET", r"/tags/(?P<tag>[^/]+)\.rss")
def mastodon_tag_rss(sim: Simulator, req: Request) -> Response:
    tag = unquote(req.params["tag"])
    timeline = sim._index.mastodon_tags.get(tag.casefold())
    posts = timeline.newest(req.offset_s, req.limit(20, 200)) if timeline else []
    base, epoch = req.base_url, sim.clock.epoch
    tag_url = f"{base}/tags/{quote(tag)}"
    build = rfc822(posts[0].created_at(epoch), gmt=False) if posts else rfc822(epoch, gmt=False)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss xmlns:media="http://search.yahoo.com/mrss/" xmlns:webfeeds="http://webfeeds.org/rss/1.0" '
        'version="2.0"><channel>'
        f"<title>#{xml_text(tag)}</title><description>Public posts tagged #{xml_text(tag)}</description>"
        f"<link>{xml_text(tag_url)}</link><lastBuildDate>{build}</lastBuildDate>"
        "<generator>Mastodon v4.2.1</generator>\n"
    )
    items = []
    for post in posts:
        url = _permalink(sim, base, post)
        items.append((url, _mastodon_item(post, url, base, epoch)))
    return _feed(
        items, posts, sim, head, "</channel></rss>\n", "application/rss+xml; charset=utf-8"
    )


def _mastodon_item(post: CorpusPost, url: str, base: str, epoch: datetime) -> str:
    content = paragraphs(post.text, lambda t: f"{base}/tags/{quote(t)}")
    categories = "".join(
        f"<category>{xml_text(t.casefold())}</category>" for t in dict.fromkeys(post.hashtags)
    )
    return (
        f'<item><guid isPermaLink="true">{xml_text(url)}</guid><link>{xml_text(url)}</link>'
        f"<pubDate>{rfc822(post.created_at(epoch), gmt=False)}</pubDate>"
        f"<description>{xml_text(content)}</description>{categories}</item>\n"
    )


@route("GET", r"/r/(?P<sub>[A-Za-z0-9_]{2,21})/new/\.rss")
def reddit_new_atom(sim: Simulator, req: Request) -> Response:
    sub = req.params["sub"]
    posts = sim._index.platform("reddit").newest(req.offset_s, req.limit(25, 100))
    base, epoch = req.base_url, sim.clock.epoch
    updated = iso(posts[0].created_at(epoch) if posts else epoch)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">'
        f'<category term="{sub}" label="r/{sub}"/><updated>{updated}</updated>'
        f"<id>/r/{sub}/new/.rss</id>"
        f'<link rel="self" href="{xml_text(f"{base}/r/{sub}/new/.rss", attr=True)}" type="application/atom+xml"/>'
        f'<link rel="alternate" href="{xml_text(f"{base}/r/{sub}/new", attr=True)}" type="text/html"/>'
        f"<subtitle>Simulated r/{sub}</subtitle><title>{sub}</title>\n"
    )
    items = [
        (f"t3_{sim._index.reddit_id(p)}", _reddit_entry(sim, p, sub, base, epoch)) for p in posts
    ]
    return _feed(items, posts, sim, head, "</feed>\n", "application/atom+xml; charset=UTF-8")


def _reddit_entry(sim: Simulator, post: CorpusPost, sub: str, base: str, epoch: datetime) -> str:
    link = _reddit_permalink(sim, base, sub, post)
    user = f"{base}/user/{quote(post.author, safe='')}"
    content = (
        f'<!-- SC_OFF --><div class="md">{paragraphs(post.text)}</div><!-- SC_ON --> &#32; submitted by &#32; '
        f'<a href="{html.escape(user)}"> /u/{html.escape(post.author, quote=False)} </a> <br/> '
        f'<span><a href="{html.escape(link)}">[link]</a></span> &#32; '
        f'<span><a href="{html.escape(link)}">[comments]</a></span>'
    )
    when = iso(post.created_at(epoch))
    return (
        f"<entry><author><name>/u/{xml_text(post.author)}</name><uri>{xml_text(user)}</uri></author>"
        f'<category term="{sub}" label="r/{sub}"/>'
        f'<content type="html">{xml_text(charrefs(content))}</content>'
        f'<id>t3_{sim._index.reddit_id(post)}</id><link href="{xml_text(link, attr=True)}"/>'
        f"<updated>{when}</updated><published>{when}</published>"
        f"<title>{xml_text(post.title or '')}</title></entry>\n"
    )


@route("GET", r"/feeds/all\.atom")
def all_atom(sim: Simulator, req: Request) -> Response:
    posts = sim._index.all.newest(req.offset_s, req.limit(200, 1000))
    base, epoch = req.base_url, sim.clock.epoch
    updated = iso(posts[0].created_at(epoch) if posts else epoch)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>reaction-monitor simulator: all posts</title>"
        "<id>urn:reaction-monitor:sim:all</id>"
        f'<link rel="self" href="{xml_text(f"{base}/feeds/all.atom", attr=True)}"/>'
        f"<updated>{updated}</updated><generator>reaction-monitor simulator</generator>\n"
    )
    rendered = _rendered_entries(sim)
    items = []
    for p in posts:
        entry = rendered.get((p.id, base))
        if entry is None:
            entry = rendered[(p.id, base)] = _generic_entry(sim, p, base, epoch)
        items.append((atom_id(p), entry))
    return _feed(items, posts, sim, head, "</feed>\n", "application/atom+xml; charset=utf-8")


# An entry never changes once published, and rendering one costs the server more than reading
# it costs the collector: the ingest benchmark would otherwise measure the simulator.
_rendered_entries: Callable[[Simulator], dict[tuple[str, str], str]] = per_simulator(lambda sim: {})


def _generic_entry(sim: Simulator, post: CorpusPost, base: str, epoch: datetime) -> str:
    when = iso(post.created_at(epoch))
    categories = "".join(
        f'<category term="{xml_text(t, attr=True)}"/>' for t in dict.fromkeys(post.hashtags)
    )
    via = ""
    if post.repost_of and post.repost_of in sim._index.seq:
        original = sim.corpus[sim._index.seq[post.repost_of]]
        via = f'<link rel="via" href="{xml_text(_permalink(sim, base, original), attr=True)}"/>'
    content = paragraphs(post.text, lambda t: f"{base}/tags/{quote(t)}")
    return (
        f'<entry xml:lang="{xml_text(post.lang, attr=True)}"><id>{atom_id(post)}</id>'
        f"<title>{xml_text(post.title or '')}</title>"
        f"<author><name>{xml_text(post.author)}</name></author>"
        f'<link rel="alternate" href="{xml_text(_permalink(sim, base, post), attr=True)}"/>{via}'
        f"<published>{when}</published><updated>{when}</updated>"
        f'<category term="{xml_text(post.platform, attr=True)}" scheme="urn:reaction-monitor:platform"/>{categories}'
        f'<content type="html">{xml_text(content)}</content></entry>\n'
    )
