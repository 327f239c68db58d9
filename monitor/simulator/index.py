"""The corpus as every endpoint family sees it: timelines, native ids and permalinks.

The families must agree on these (the Atom feed links a Mastodon post by the same URL the tag RSS
serves as its guid; the Reddit Atom and JSON listings give a post the same `t3_` id), so they live
in one place that knows no server and no platform module.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote

from monitor.simulator.corpus import CorpusPost

__all__ = ["DEFAULT_SUBREDDIT", "WORD", "PostIndex", "Timeline", "atom_id", "base36"]

DEFAULT_SUBREDDIT = "worldnews"

WORD = re.compile(r"\w+")
"""A search word, as every simulated search engine splits text and queries (after casefolding)."""


class Timeline:
    """Posts oldest first, with their offsets, so 'published by t' is one bisect."""

    def __init__(self, posts: Iterable[CorpusPost]):
        self.posts = list(posts)
        self.offsets = [p.offset_s for p in self.posts]

    def published(self, offset_s: float) -> int:
        return bisect_right(self.offsets, offset_s)

    def newest(
        self,
        offset_s: float,
        limit: int | None = None,
        keep: Callable[[CorpusPost], bool] | None = None,
    ) -> list[CorpusPost]:
        out: list[CorpusPost] = []
        for i in range(self.published(offset_s) - 1, -1, -1):
            post = self.posts[i]
            if keep is None or keep(post):
                out.append(post)
                if limit is not None and len(out) >= limit:
                    break
        return out


class PostIndex:
    """Per-endpoint views of the corpus and stable native ids, built once per simulator."""

    def __init__(self, corpus: Sequence[CorpusPost]):
        self.all = Timeline(corpus)
        self.seq = {p.id: n for n, p in enumerate(corpus)}
        self.by_platform = {
            name: Timeline(p for p in corpus if p.platform == name)
            for name in sorted({p.platform for p in corpus})
        }
        tags: dict[str, list[CorpusPost]] = {}
        for p in self.platform("mastodon").posts:
            for tag in {t.casefold() for t in p.hashtags}:
                tags.setdefault(tag, []).append(p)
        self.mastodon_tags = {tag: Timeline(posts) for tag, posts in tags.items()}
        self.words = {
            p.id: frozenset(WORD.findall(f"{p.title or ''} {p.text}".casefold()))
            for p in self.platform("news").posts
        }

    def platform(self, name: str) -> Timeline:
        return self.by_platform.get(name) or Timeline(())

    def mastodon_id(self, post: CorpusPost) -> str:
        # 18 digits, ordered like Mastodon's
        return str(110_000_000_000_000_000 + self.seq[post.id])

    def reddit_id(self, post: CorpusPost) -> str:
        return base36(3_000_000_000 + self.seq[post.id])

    def permalink(self, base: str, post: CorpusPost) -> str:
        """Where a post would live on its platform, served (or not) by this host."""
        seq, author = self.seq[post.id], quote(post.author, safe="")
        if post.platform == "mastodon":
            return f"{base}/@{author}/{self.mastodon_id(post)}"
        if post.platform == "reddit":
            return self.reddit_permalink(base, DEFAULT_SUBREDDIT, post)
        if post.platform == "news":
            return f"{base}/articles/{quote(post.id)}?oc=5"
        if post.platform == "bluesky":
            return f"{base}/profile/{author}/post/{base36(10**12 + seq)}"
        if post.platform == "x":
            return f"{base}/{author}/status/{1_900_000_000_000_000_000 + seq}"
        return f"{base}/item?id={43_000_000 + seq}"

    def reddit_permalink(self, base: str, sub: str, post: CorpusPost) -> str:
        words = re.findall(r"[a-z0-9]+", (post.title or "").lower())
        slug = "_".join(words)[:50].rstrip("_") or "post"
        return f"{base}/r/{sub}/comments/{self.reddit_id(post)}/{slug}/"


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def atom_id(post: CorpusPost) -> str:
    return f"urn:reaction-monitor:sim:{post.id}"
