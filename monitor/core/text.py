"""Untrusted text: from platform HTML to safe plain text, and the clean copy that gets scored.

Post text comes from strangers and ends up in a terminal, so control, escape and bidi characters
are removed at ingest (Rich and Textual let ESC through). Everything here runs on every post,
so the regexes are compiled once and the common case (nothing to do) costs a few C-level scans.
"""

from __future__ import annotations

import functools
import html
import re
import string
import unicodedata
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

__all__ = [
    "canonical_url",
    "clean_for_scoring",
    "scoring_texts",
    "extract_hashtags",
    "find_hashtags",
    "html_to_text",
    "sanitize",
    "split_camel",
    "truncate_display",
]

# --- sanitize ---------------------------------------------------------------------------------

# Whole escape sequences go, not just the ESC byte: a leftover "]0;title" or "[31m" is noise, and
# removing ESC alone would let a later pass (or a terminal that treats C1 CSI as ESC [) re-arm it.
_UNSAFE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC/DCS/SOS/PM/APC with terminator
    r"|\x1b[ -/]*[0-~]"  # other two- or three-byte escapes (ESC c, ESC ( B, ...)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x9c)"  # 8-bit OSC/DCS/SOS/PM/APC
    # what is left: C0 except \t \n, DEL, C1, bidi embeddings/overrides/isolates and marks
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


_UNSAFE_CHAR = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def sanitize(text: str) -> str:
    """Make stranger-written text safe to put on a terminal and to compare.

    A bidi override can make a post display as something it does not say, and an OSC sequence
    can retitle the user's terminal; both are removed, escape sequences as a whole. NFC keeps
    "café" typed two ways from counting as two different words.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _UNSAFE_CHAR.search(text) is not None:  # every sequence starts with one: most text has none
        text = _UNSAFE.sub("", text)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


# --- HTML to text -----------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
_PARAGRAPH_TAGS = frozenset({"p", "blockquote", "pre", "ul", "ol", "table"})
_DROPPED_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
_CELL_TAGS = frozenset({"td", "th"})
# How many line breaks a block boundary asks for.
_BREAKS = {tag: 2 if tag in _PARAGRAPH_TAGS else 1 for tag in _BLOCK_TAGS}

_MANY_NL = re.compile(r"\n{3,}")
_ANY_TAG = re.compile(r"<[^>]*>")


def html_to_text(html_text: str) -> str:
    """Turn post HTML into the plain text a reader saw in a browser.

    lexbor (through selectolax) parses it as a browser does, so every odd corner reads as it
    displays: `<![CDATA[` in HTML is a comment that ends at the first '>', script and style
    hold no visible text, an entity is decoded once. Block boundaries become line breaks; a
    break is written only when more text follows, and nested blocks ("<ul><li>") ask for the
    larger break instead of adding theirs up. Mastodon's link shortening (`invisible` /
    `ellipsis` spans) is only CSS, so keeping every span's text gives back the full URL with no
    "…" added. Never raises: a broken post must not stop a poll.
    """
    # no markup: a line break is a space in HTML too
    if "<" not in html_text and "&" not in html_text:
        return _tidy(html_text.replace("\n", " "))
    try:
        raw = _visible_text(html_text)
    except Exception:  # noqa: BLE001 - input the parser refuses (a lone surrogate) gets the crude fallback
        raw = html.unescape(_ANY_TAG.sub(" ", html_text))
    return _tidy(raw)


def _visible_text(markup: str) -> str:
    """The text nodes in document order, with the line breaks the blocks around them owe.

    The walk keeps its own stack (hostile HTML nests deeper than Python recurses). Inside <pre>
    a newline is kept as NUL until the spaces are collapsed.
    """
    body = LexborHTMLParser(markup).body
    parts: list[str] = []
    append = parts.append
    pending = 0  # line breaks owed before the next text
    pre = 0  # depth inside <pre>
    open_elements: list[Any] = []
    node = body.child if body is not None else None
    while node is not None:
        tag = node.tag
        if tag is None:  # lexbor names every node it builds; html_to_text falls back if not
            raise ValueError("an HTML node without a name")
        if tag == "-text":
            data = node.text_content
            if not data:
                pass
            elif pre:
                if pending and parts:
                    append("\n" * pending)
                pending = 0
                append(data.replace("\x00", "").replace("\n", "\x00"))
            elif data.isspace():
                if not pending:
                    append(" ")
            else:
                if pending and parts:
                    append("\n" * pending)
                pending = 0
                append(data.replace("\n", " "))
        elif tag[0] != "-" and tag not in _DROPPED_TAGS:  # "-comment", "-doctype": nothing to show
            if tag == "br":
                if pending and parts:
                    append("\n" * pending)
                pending = 0
                append("\n")
            else:
                pending = max(pending, _BREAKS.get(tag, 0))
                if tag in _CELL_TAGS and not pending:
                    append(" ")  # cells of a row stand apart, as words
                child = node.child
                if child is not None:
                    if tag == "pre":
                        pre += 1
                    open_elements.append(node)
                    node = child
                    continue
        following = node.next
        while following is None and open_elements:  # the end tags of the elements left here
            node = open_elements.pop()
            tag = node.tag
            pending = max(pending, _BREAKS.get(tag, 0))
            if tag == "pre":
                pre -= 1
            following = node.next
        node = following
    return "".join(parts)


def _tidy(raw: str) -> str:
    """Runs of spaces (any Unicode space but a newline) become one; lines lose their edges;
    at most one empty line in a row. str.split per line does in C what three regexes did."""
    text = "\n".join([" ".join(line.split()) for line in raw.split("\n")])
    if "\n\n\n" in text:
        text = _MANY_NL.sub("\n\n", text)
    return sanitize(text.replace("\x00", "\n").strip())


# --- hashtags, mentions, URLs -----------------------------------------------------------------

# Python's \w misses combining marks; Indic and Thai hashtags need theirs, ZWNJ/ZWJ join
# Persian and Indic words.
_TAG_CHAR = r"[\w\u0300-\u036f\u0900-\u0dff\u0e00-\u0e7f\u200c\u200d]"
_URL = r"(?:https?://|www\.)\S+"
# @user, @user@instance.social, @alice.bsky.social; not an e-mail address (a word char before @).
# The look-behinds come after the '@' / '#' so that every alternative starts with a literal,
# which lets the regex engine skip ahead to candidate characters (twice as fast).
_MENTION = r"@(?<![\w@]@)\w+(?:[.-]\w+)*(?:@\w+(?:[.-]\w+)+)?"
# A hashtag follows neither a word character nor '&' ("&#x27;") nor '/' or '#'; it needs a letter.
_HASHTAG = rf"#(?<![\w&#/]#)(?={_TAG_CHAR}*?[^\W\d_])({_TAG_CHAR}+)"

# URLs come first in the alternation so that "#frag" inside a URL is swallowed with it.
_TOKENS = re.compile(rf"(?P<url>{_URL})|(?P<mention>{_MENTION})|{_HASHTAG}")
_URL_OR_TAG = re.compile(rf"{_URL}|{_HASHTAG}")  # findall: the tag, or '' for a URL


def extract_hashtags(text: str) -> list[str]:
    """Hashtags as a matcher compares them: casefolded, without '#', each once, in order."""
    return list(dict.fromkeys(tag.casefold() for tag in find_hashtags(text)))


def find_hashtags(text: str) -> list[str]:
    """Hashtags as written (no '#', case kept, repeats kept): the capitals tell `split_camel`
    where the words are."""
    if "#" not in text:
        return []
    return [tag for tag in _URL_OR_TAG.findall(text) if tag]


@functools.lru_cache(maxsize=4096)  # a story's hashtags repeat on thousands of posts
def split_camel(tag: str) -> str:
    """'#NotHappy' -> 'Not Happy': VADER only knows the words, not the joined tag.

    Unicode-aware (Cyrillic 'ТрампПутин' splits too); acronyms stay whole ('NYCSubway' ->
    'NYC Subway'); letters and digits part ('100DaysOfCode' -> '100 Days Of Code').
    """
    tag = tag.lstrip("#")
    if tag.isalpha() and (tag.islower() or tag.isupper()):
        return tag
    out: list[str] = []
    prev = ""
    last = len(tag) - 1
    for i, ch in enumerate(tag):
        if ch == "_" or ch == "-":
            out.append(" ")
            prev = " "
            continue
        if prev and prev != " " and _is_boundary(prev, ch, tag[i + 1] if i < last else ""):
            out.append(" ")
        out.append(ch)
        prev = ch
    return " ".join("".join(out).split())


def _is_boundary(prev: str, ch: str, nxt: str) -> bool:
    if ch.isupper():
        return prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower())
    return ch.isdigit() and prev.isalpha()


# --- scoring clean-up -------------------------------------------------------------------------


def clean_for_scoring(text: str) -> str:
    """The copy VADER reads (metrics.md §1); the text as posted is kept for display."""
    return scoring_texts(text)[0]


def scoring_texts(text: str) -> tuple[str, str]:
    """(the copy VADER reads, the author's own words), on one line each.

    Each clean-up changes only what stock VADER would misread, so that a score moves away from
    stock vaderSentiment's only where the text needed it (tests/test_text.py shows each one):
    - HTML entities are decoded ("miss you &lt;3": `<3` is in the lexicon);
    - U+FE0F is dropped: stock VADER looks emoji up one character at a time, so the selector
      glues itself to the emoji's description ("red heart\ufe0f" is no word);
    - a mention goes when VADER would read its name as a word ("@united lost my bag"), a link or
      mention when its '!' or '?' would count as the author's emphasis, and lower-case ones when
      they alone would switch on the ALL-CAPS boost of an all-capitals post; others stay, as
      stock VADER reads them (neutral, and counted where negations and boosters look back);
    - a CamelCase hashtag is split only when a part is a word VADER reads ("#NotHappy"), so a
      name ("#TrumpPutin") stays one neutral word;
    - runs of white space become one space (VADER reads the same words; the language model
      needs one line).
    Case, punctuation and stop words carry sentiment for VADER, so they stay. The author's own
    words, without hashtags, mentions and links, are what the language decision reads.
    """
    if "&" in text:
        text = html.unescape(text)
    if "\ufe0f" in text:
        text = text.replace("\ufe0f", "")
    if "@" not in text and "#" not in text and "://" not in text and "www." not in text:
        line = " ".join(text.split())
        return line, line
    kept: list[str] = []  # links and mentions left as written

    def for_vader(m: re.Match[str]) -> str:
        tag = m.group(3)
        if tag is not None:
            words = _hashtag_for_vader(tag)
            return m.group(0) if words is None else f" {words} "
        token = m.group(0)
        if _misread_link_or_mention(token):
            return " "
        kept.append(token)
        return token

    vader = _TOKENS.sub(for_vader, text)
    if kept:
        rest = _TOKENS.sub(lambda m: m.group(0) if m.group(3) is not None else " ", vader)
        if _only_capitals(rest):  # rare: an all-capitals post with a lower-case link or mention
            vader = _TOKENS.sub(
                lambda m: (
                    m.group(0)
                    if m.group(3) is not None or _vader_word(m.group(0)).isupper()
                    else " "
                ),
                vader,
            )
    return " ".join(vader.split()), " ".join(_TOKENS.sub(" ", text).split())


def _misread_link_or_mention(token: str) -> bool:
    """Whether stock VADER would take something from a link or mention: its '!' and '?' as the
    author's emphasis, or its name as a word ("@united")."""
    from monitor.core.vader import vader_vocabulary

    if "!" in token or "?" in token:
        return True
    word = _vader_word(token).lower()
    return word in vader_vocabulary()[1] or "n't" in word


@functools.lru_cache(maxsize=4096)  # a story's hashtags repeat on thousands of posts
def _hashtag_for_vader(tag: str) -> str | None:
    """The words of a CamelCase hashtag when one of them is a word VADER reads, else None."""
    from monitor.core.vader import vader_vocabulary

    words = split_camel(tag)
    if words == tag:
        return None
    reads = vader_vocabulary()[1]
    return words if any(w.lower() in reads or "n't" in w.lower() for w in words.split()) else None


def _vader_word(token: str) -> str:
    """The word stock VADER makes of a token (`_strip_punc_if_word`)."""
    stripped = token.strip(string.punctuation)
    return token if len(stripped) <= 2 else stripped


def _only_capitals(words: str) -> bool:
    """Whether every word VADER would see in `words` is in capitals, so that a lower-case link or
    mention alone would make VADER boost them as if they stood out (its `allcap_differential`).
    An emoji counts as lower case: VADER reads its description."""
    if not words.isupper():  # a lower-case letter anywhere: almost every post
        return False
    from monitor.core.vader import vader_vocabulary

    emoji = vader_vocabulary()[2]
    if any(ch in emoji for ch in words if not ch.isascii()):
        return False
    tokens = words.split()
    return bool(tokens) and all(_vader_word(t).isupper() for t in tokens)


# --- URLs -------------------------------------------------------------------------------------

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "ref",
        "oc",
        "si",
        "igshid",
        "mc_cid",
        "mc_eid",
    }
)
_DEFAULT_PORTS = frozenset({80, 443})
_HOST = re.compile(r"[\w.-]+|\[[0-9a-f:.]+\]")


def canonical_url(url: str | None) -> str | None:
    """One spelling per article, so the same link shared on two platforms dedupes.

    Never raises: a garbage link just does not take part in URL dedupe.
    """
    if not url or not isinstance(url, str):
        return None
    try:
        return _canonical(url.strip())
    except (ValueError, UnicodeError):
        return None


def _canonical(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return None
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if not host or not _HOST.fullmatch(host):
        return None
    port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    netloc = host if port is None or port in _DEFAULT_PORTS else f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query.sort()
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key.startswith("utm_") or key in _TRACKING_PARAMS


# --- display ----------------------------------------------------------------------------------


def truncate_display(text: str, limit: int) -> str:
    """A one-line preview that fits a table cell; '…' says that something was cut."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    if limit <= 1:
        return "…"[: max(limit, 0)]
    cut = limit - 1
    while cut > 0 and unicodedata.combining(line[cut]):
        cut -= 1  # never leave an accent without its letter
    return line[:cut].rstrip() + "…"
