"""Which configured topics a post belongs to.

Runs on every post, so the topics are compiled once into a hashtag index and ONE keyword regex;
a post costs a casefold, one regex scan for all keywords and a few set operations, however many
topics there are.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Protocol

from monitor.core.text import find_hashtags, split_camel

__all__ = ["TopicLike", "TopicMatcher"]


class TopicLike(Protocol):
    """What the matcher reads from `monitor.config.feeds.Topic` (duck-typed to keep config optional)."""

    name: str
    hashtags: list[str]
    keywords: list[str]
    exclude: list[str]
    languages: list[str] | None


# Post text arrives NFC-normalized (text.sanitize); config and platform tags are brought to the
# same form, or a "café" typed with a combining accent would never match.
def _tag_key(tag: str) -> str:
    return unicodedata.normalize("NFC", tag.strip().lstrip("#")).casefold()


def _keyword_key(keyword: str) -> str:
    return " ".join(unicodedata.normalize("NFC", keyword).casefold().split())


@functools.lru_cache(maxsize=256)
def _lang_key(lang: str) -> str:
    """'en-US', 'EN' and 'en_GB' are all English to a topic's language filter."""
    return lang.strip().lower().replace("_", "-").split("-", 1)[0]


def _keyword_pattern(key: str) -> str:
    # Whole words: no word character may touch either end ("Dmitriev" is not in "Dmitrievsky",
    # but is in "Dmitriev's"); \b would fail for keywords that end in punctuation ("U.S.").
    return r"\s+".join(re.escape(word) for word in key.split())


class TopicMatcher:
    """Topic names for a post, in config order.

    A topic matches when one of its hashtags is carried by the post (in the text or the
    platform's tag list) or one of its keywords occurs as whole words, and none of its
    exclusions does.
    """

    def __init__(self, topics: Sequence[TopicLike]) -> None:
        self._names: list[str] = [t.name for t in topics]
        self._langs: list[frozenset[str] | None] = [
            frozenset(_lang_key(x) for x in t.languages) if t.languages else None for t in topics
        ]
        # tag -> topic indices it includes / excludes; keyword key -> same
        self._tag_in: dict[str, set[int]] = {}
        self._tag_out: dict[str, set[int]] = {}
        kw_in: dict[str, set[int]] = {}
        kw_out: dict[str, set[int]] = {}
        for i, topic in enumerate(topics):
            for tag in topic.hashtags or ():
                if _tag_key(tag):
                    self._tag_in.setdefault(_tag_key(tag), set()).add(i)
            for kw in topic.keywords or ():
                if _keyword_key(kw):
                    kw_in.setdefault(_keyword_key(kw), set()).add(i)
            for ex in topic.exclude or ():
                if ex.strip().startswith("#") and _tag_key(ex):
                    self._tag_out.setdefault(_tag_key(ex), set()).add(i)
                elif _keyword_key(ex):
                    kw_out.setdefault(_keyword_key(ex), set()).add(i)
        self._kw_in, self._kw_out = _credit_contained(kw_in, kw_out)
        self._keywords = _compile_keywords(set(kw_in) | set(kw_out))
        self._order = range(len(self._names))

    def match(
        self, text: str, tags: Iterable[str] | None = (), lang: str | None = None
    ) -> list[str]:
        """Topic names for one post; `tags` is the platform's own list, with or without '#'."""
        written = find_hashtags(text)
        include: set[int] = set()
        exclude: set[int] = set()
        if written or tags:
            self._match_tags(written, tags, include, exclude)
        if self._keywords is not None:
            self._match_keywords(_keyword_text(text, written), include, exclude)
        include -= exclude
        if not include:
            return []
        return self._named(sorted(include), lang)

    def match_all(self, lang: str | None = None) -> list[str]:
        """For `match: all` sources: every topic the post's language allows."""
        return self._named(self._order, lang)

    def _named(self, indices: Iterable[int], lang: str | None) -> list[str]:
        key = _lang_key(lang) if lang else None
        names, langs = self._names, self._langs
        return [names[i] for i in indices if key is None or _allows(langs[i], key)]

    def _match_tags(
        self, written: list[str], tags: Iterable[str] | None, include: set[int], exclude: set[int]
    ) -> None:
        post_tags = {tag.casefold() for tag in written}
        if tags:
            post_tags.update(_tag_key(tag) for tag in tags)
        tag_in, tag_out = self._tag_in, self._tag_out
        for tag in post_tags:
            if tag in tag_in:
                include |= tag_in[tag]
            if tag in tag_out:
                exclude |= tag_out[tag]

    def _match_keywords(self, folded: str, include: set[int], exclude: set[int]) -> None:
        kw_in, kw_out = self._kw_in, self._kw_out
        for hit in self._keywords.findall(folded):  # type: ignore[union-attr]
            if hit not in kw_in and hit not in kw_out:
                hit = " ".join(hit.split())  # the words were apart by more than one space
            include |= kw_in.get(hit, _EMPTY)
            exclude |= kw_out.get(hit, _EMPTY)


def _allows(languages: frozenset[str] | None, lang: str) -> bool:
    return languages is None or lang in languages


def _keyword_text(text: str, written: list[str]) -> str:
    """The casefolded text, plus the words of each CamelCase hashtag ("#RussiaSanctions" ->
    "russia sanctions"), each after a '.' so that no phrase runs from one into the next."""
    split = [words for words in map(split_camel, written) if " " in words]
    if split:
        text = "\n.\n".join([text, *split])
    return text.casefold()


_EMPTY: frozenset[int] = frozenset()


def _compile_keywords(keys: set[str]) -> re.Pattern[str] | None:
    """One alternation, longest first: at a given position the longest keyword wins, and the
    shorter ones it contains are credited through `_credit_contained`."""
    if not keys:
        return None
    alternatives = "|".join(_keyword_pattern(k) for k in sorted(keys, key=len, reverse=True))
    # Inside a lookahead, findall tries every position, so overlapping keywords are all seen.
    return re.compile(rf"(?=(?<!\w)({alternatives})(?!\w))")


def _credit_contained(
    kw_in: dict[str, set[int]], kw_out: dict[str, set[int]]
) -> tuple[dict[str, frozenset[int]], dict[str, frozenset[int]]]:
    """A hit on "russia sanctions" is also a hit on "russia": give each keyword the topics of
    every keyword found inside it, since the regex reports only one keyword per position."""
    keys = set(kw_in) | set(kw_out)
    inside = {
        key: [other for other in keys if re.search(rf"(?<!\w){_keyword_pattern(other)}(?!\w)", key)]
        for key in keys
    }

    def credited(index: dict[str, set[int]]) -> dict[str, frozenset[int]]:
        out: dict[str, frozenset[int]] = {}
        for key in keys:
            topics = frozenset().union(*(index.get(o, ()) for o in inside[key]))
            if topics:
                out[key] = topics
        return out

    return credited(kw_in), credited(kw_out)
