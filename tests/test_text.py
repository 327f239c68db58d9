"""Untrusted text: what reaches the terminal, the matcher and VADER."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.core.text import (
    canonical_url,
    clean_for_scoring,
    extract_hashtags,
    find_hashtags,
    html_to_text,
    sanitize,
    split_camel,
    truncate_display,
)

FIXTURES = Path("/work/shared/fixtures/mastodon")
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def assert_terminal_safe(text: str) -> None:
    for ch in text:
        assert ch in "\t\n" or unicodedata.category(ch) != "Cc", f"control {ch!r} in {text!r}"
        assert ch not in BIDI, f"bidi {ch!r} in {text!r}"


@pytest.fixture(scope="module")
def vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


# --- sanitize ---------------------------------------------------------------------------------

HOSTILE = [
    "[/]",
    "[bold red]alarm[/bold red]",
    "[$accent]",
    "before\x1b]0;pwned title\x07after",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "\x1b[31mred\x1b[0m",
    "\x1b[2J\x1b[Hcleared",
    "abc\u202edcba",
    "\u2066isolated\u2069 \u200fmark",
    "c1 \x9b31m csi and \x85 nel",
    "nul\x00byte\x07bell\x7fdel",
    "lone escape at the end\x1b",
    "x" * 10_000,
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_sanitize_leaves_no_control_or_bidi_characters(hostile: str) -> None:
    assert_terminal_safe(sanitize(hostile))


def test_sanitize_removes_whole_escape_sequences_not_just_esc() -> None:
    assert sanitize("before\x1b]0;pwned title\x07after") == "beforeafter"
    assert sanitize("\x1b[31mred\x1b[0m") == "red"
    assert sanitize("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\") == "click"
    assert sanitize("c1 \x9b31mcsi") == "c1 csi"


def test_sanitize_keeps_markup_lookalikes_tabs_and_newlines() -> None:
    # Brackets are text; keeping them out of Rich markup is the UI's job, not ours.
    for text in ("[/]", "[bold red]", "[$accent]", "a [/ b", "col1\tcol2\nline 2"):
        assert sanitize(text) == text


def test_sanitize_normalizes_line_ends_and_nfc() -> None:
    assert sanitize("a\r\nb\rc") == "a\nb\nc"
    assert sanitize("cafe\u0301") == "caf\u00e9"


# --- html_to_text -----------------------------------------------------------------------------

# Modelled on Mastodon's status HTML: mention h-card, hashtag link, shortened link spans.
MASTODON_HTML = (
    '<p><span class="h-card" translate="no"><a href="https://example.social/@ana" '
    'class="u-url mention">@<span>ana</span></a></span> the summit was a farce &amp; '
    'everyone knew it</p><p>read: <a href="https://news.example.org/2025/08/summit-analysis" '
    'target="_blank" rel="nofollow noopener"><span class="invisible">https://</span>'
    '<span class="ellipsis">news.example.org/2025/08/su</span><span class="invisible">'
    'mmit-analysis</span></a> <a href="https://example.social/tags/TrumpPutin" '
    'class="mention hashtag" rel="tag">#<span>TrumpPutin</span></a></p>'
)


def test_html_to_text_on_mastodon_content() -> None:
    text = html_to_text(MASTODON_HTML)
    assert text == (
        "@ana the summit was a farce & everyone knew it\n\n"
        "read: https://news.example.org/2025/08/summit-analysis #TrumpPutin"
    )
    assert "…" not in text
    assert extract_hashtags(text) == ["trumpputin"]


def test_html_to_text_blocks_become_newlines() -> None:
    html = "<h2>Title</h2><div>one</div><div>two<br>three<br/>four</div><ul><li>a</li>\n<li>b</li></ul><hr>end"
    assert html_to_text(html) == "Title\none\ntwo\nthree\nfour\n\na\nb\n\nend"


def test_html_to_text_entities_spaces_and_dropped_content() -> None:
    html = (
        "<p>  miss   you &lt;3 &#8212; &quot;really&quot;&nbsp;&hellip; </p>"
        "<script>alert('x')</script><style>p { color: red }</style><p>caf&eacute;</p>"
    )
    assert html_to_text(html) == 'miss you <3 — "really" …\n\ncafé'
    assert html_to_text("hello <b>bold</b> <i>world</i>!") == "hello bold world!"


@pytest.mark.parametrize(
    "broken",
    [
        "<p>unclosed <b>bold",
        "</div></p>stray closers",
        "<a href='x>y",
        "<<<>>>",
        "<!-- open comment",
        "&#xZZ; &bogus; &#1114112; &#0;",
        "<p",
        "<script>never closed",
        "<div><p><li>nest</div>",
        "\x1b]0;title\x07<p>esc in html</p>",
        "",
    ],
)
def test_html_to_text_never_raises_and_stays_safe(broken: str) -> None:
    assert_terminal_safe(html_to_text(broken))


@pytest.mark.parametrize(
    ("markup", "shown"),
    [
        # In HTML (outside SVG/MathML) "<![CDATA[" opens a comment that the first '>' closes.
        ("a<![CDATA[b > c]]>d", "a c]]>d"),
        ("<p>x<![CDATA[hidden]]>y</p>", "xy"),
        # script and style hold no visible text, even with markup-like text inside
        (
            "<script>if (a < b) { document.write('<p>no</p>') }</script>seen<style>p::after{content:'no'}</style>",
            "seen",
        ),
        ("<p>one</p><script>never closed <p>two</p>", "one"),
        # an entity is decoded once; browsers also take the legacy ones written without ';'
        ("x &amp;amp; y &amp;lt;b&amp;gt;", "x &amp; y &lt;b&gt;"),
        ("&copy 2024 &notit; &nosuch; AT&T", "© 2024 ¬it; &nosuch; AT&T"),
        # comments, including the odd ones, show nothing
        ("a<!-- b -- c -->d<!---->e<!-->f", "adef"),
        ("<pre>  two\n  lines</pre>after", "two\n lines\n\nafter"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
    ],
)
def test_html_to_text_shows_what_a_browser_shows(markup: str, shown: str) -> None:
    assert html_to_text(markup) == shown


def test_html_to_text_survives_hostile_nesting() -> None:
    assert html_to_text("<div>" * 20_000 + "deep" + "</div>" * 20_000) == "deep"
    assert html_to_text("<b>" * 20_000 + "bold") == "bold"
    assert_terminal_safe(html_to_text("<p>\ud800 lone surrogate &#x1b;[31m</p>"))


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared Mastodon fixtures not present")
def test_html_to_text_on_recorded_mastodon_statuses() -> None:
    status = json.loads(
        (FIXTURES / "status_mastodon_social_110446223051565765.body.json").read_text()
    )
    text = html_to_text(status["content"])
    assert "<" not in text and "\n\n" in text
    assert set(extract_hashtags(text)) >= {t["name"].casefold() for t in status["tags"]}
    timeline = json.loads((FIXTURES / "tag_timeline_hoot.response.json").read_text())["body"]
    for post in json.loads(timeline) if isinstance(timeline, str) else timeline:
        assert "hoot" in extract_hashtags(html_to_text(post["content"]))


# --- hashtags ---------------------------------------------------------------------------------


def test_whitespace_tidy_matches_the_regex_definition() -> None:
    """_tidy collapses spaces with str.split; the definition it must keep is these three regexes."""
    import random
    import re

    from monitor.core.text import _tidy

    def by_regex(raw: str) -> str:
        text = re.sub(r"[^\S\n]+", " ", raw)
        text = re.sub(r" ?\n ?", "\n", text)
        text = re.sub(r"\n{3,}", "\n\n", text).replace("\x00", "\n")
        return sanitize(text.strip())

    rng = random.Random(3)
    alphabet = [
        "a",
        "b",
        "Путин",
        " ",
        "  ",
        "\t",
        "\n",
        "\r",
        "\x0b",
        "\x0c",
        "\xa0",
        "\u2003",
        "\u3000",
        "\x85",
        "\u2028",
        "\x1c",
        "\x00",
        "\x1b[31m",
        "😂",
        "\u200b",
    ]
    for _ in range(20_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert _tidy(raw) == by_regex(raw), repr(raw)


def test_extract_hashtags_unicode_casefolded_unique_in_order() -> None:
    text = "#ТрампПутин meets #TrumpPutinBusiness at the #café #100DaysOfCode #trumpputinbusiness"
    assert extract_hashtags(text) == ["трамппутин", "trumpputinbusiness", "café", "100daysofcode"]


def test_extract_hashtags_needs_a_letter_and_skips_urls_and_entities() -> None:
    text = (
        "#1 #2024 see https://x.org/a#frag and www.example.com/#top or a#b, "
        "&#x27;quoted&#x27; (#paren) ##double #under_score"
    )
    assert extract_hashtags(text) == ["paren", "under_score"]
    assert find_hashtags("#NotHappy and #NotHappy") == ["NotHappy", "NotHappy"]


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("#NotHappy", "Not Happy"),
        ("NYCSubway", "NYC Subway"),
        ("100DaysOfCode", "100 Days Of Code"),
        ("COVID19", "COVID 19"),
        ("ТрампПутин", "Трамп Путин"),
        ("two_words", "two words"),
        ("lowercase", "lowercase"),
        ("BREAKING", "BREAKING"),
    ],
)
def test_split_camel(tag: str, words: str) -> None:
    assert split_camel(tag) == words


# --- canonical_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTP://Example.COM:80/a/b/?utm_source=x&b=2&a=1&fbclid=z#frag",
            "https://example.com/a/b?a=1&b=2",
        ),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        (
            "https://news.google.com/rss/articles/CBMi?oc=5&hl=en",
            "https://news.google.com/rss/articles/CBMi?hl=en",
        ),
        ("https://youtu.be/abc?si=tracker", "https://youtu.be/abc"),
        (
            "https://www.instagram.com/p/x/?igshid=1&utm_medium=copy",
            "https://www.instagram.com/p/x",
        ),
        (
            "https://site.example/p?ref=tw&mc_cid=1&mc_eid=2&gclid=3&q=a+b",
            "https://site.example/p?q=a+b",
        ),
        ("http://example.com:8080/x", "https://example.com:8080/x"),
        ("  https://Example.com./path  ", "https://example.com/path"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "garbage",
        "ftp://example.com/f",
        "mailto:a@b.c",
        "javascript:alert(1)",
        "https://",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://[::1/",
        "https://a.com:port/",
    ],
)
def test_canonical_url_rejects_without_raising(bad: str | None) -> None:
    assert canonical_url(bad) is None


def test_same_article_two_spellings_one_canonical_url() -> None:
    a = canonical_url("https://news.example.org/story/?utm_campaign=x&id=7")
    b = canonical_url("http://NEWS.example.org/story?id=7#comments")
    assert a == b == "https://news.example.org/story?id=7"


# --- clean_for_scoring: metrics.md §1 ---------------------------------------------------------


def test_unescaped_heart_turns_positive(vader: SentimentIntensityAnalyzer) -> None:
    raw = "miss you &lt;3"
    assert vader.polarity_scores(raw)["compound"] == pytest.approx(-0.1531)
    assert clean_for_scoring(raw) == "miss you <3"
    assert vader.polarity_scores(clean_for_scoring(raw))["compound"] > 0.3


def test_dropping_fe0f_lets_the_emoji_count(vader: SentimentIntensityAnalyzer) -> None:
    raw = "miss you \u2764\ufe0f"
    assert vader.polarity_scores(raw)["compound"] == pytest.approx(-0.1531)
    assert "\ufe0f" not in clean_for_scoring(raw)
    assert vader.polarity_scores(clean_for_scoring(raw))["compound"] == pytest.approx(0.5574)


def test_split_hashtag_is_more_negative(vader: SentimentIntensityAnalyzer) -> None:
    raw = "flight delayed again #NotHappy"
    assert clean_for_scoring(raw) == "flight delayed again Not Happy"
    assert vader.polarity_scores(raw)["compound"] == pytest.approx(-0.2263)
    assert vader.polarity_scores(clean_for_scoring(raw))["compound"] == pytest.approx(-0.5991)


def test_a_mention_vader_would_read_as_a_word_goes(vader: SentimentIntensityAnalyzer) -> None:
    assert clean_for_scoring("@united lost my bag") == "lost my bag"
    assert vader.polarity_scores("@united lost my bag")["compound"] > 0  # "united" reads positive
    assert vader.polarity_scores(clean_for_scoring("@united lost my bag"))["compound"] < 0
    # "never" negates
    assert clean_for_scoring("@bad_news_bear @never thanks") == "@bad_news_bear thanks"


def test_links_and_mentions_vader_reads_as_nothing_stay_as_posted(
    vader: SentimentIntensityAnalyzer,
) -> None:
    """Removing them would move the score away from stock VADER for no reason: they are counted as neutral
    words, and negations and boosters look back over them (stock: "not @jess_22 @bob happy" is not negated)."""
    for text in [
        "not @jess_22 @bob.bsky.social happy",
        "so good https://t.co/abc @ana@example.social",
        "@anonymous I love it",
        "@anonymous Oh man! I love 'em!",
    ]:
        assert clean_for_scoring(text) == text
        assert vader.polarity_scores(clean_for_scoring(text)) == vader.polarity_scores(text)


def test_a_link_with_question_or_exclamation_marks_goes(vader: SentimentIntensityAnalyzer) -> None:
    """VADER counts every '?' and '!' of the text as the author's emphasis, a link's query string too."""
    text = "great news https://example.org/story?id=7?ref=x! www.example.com/a?b"
    assert clean_for_scoring(text) == "great news"
    assert (
        vader.polarity_scores(text)["compound"] != vader.polarity_scores("great news")["compound"]
    )


def test_a_lower_case_link_or_mention_does_not_switch_on_the_all_caps_boost(
    vader: SentimentIntensityAnalyzer,
) -> None:
    text = "@anonymous THIS IS GREAT https://t.co/x1"
    assert clean_for_scoring(text) == "THIS IS GREAT"
    assert (
        vader.polarity_scores(text)["compound"] > vader.polarity_scores("THIS IS GREAT")["compound"]
    )
    # in a post that is not all capitals the capitals stand out either way: nothing to change
    assert (
        clean_for_scoring("@anonymous This is GREAT https://t.co/x1")
        == "@anonymous This is GREAT https://t.co/x1"
    )


def test_a_hashtag_is_split_only_when_a_part_is_a_word_vader_reads(
    vader: SentimentIntensityAnalyzer,
) -> None:
    """#TrumpPutin split would be two neutral words that push a negation out of VADER's three-word window."""
    text = "Not convinced. #TrumpPutin #energy"
    assert clean_for_scoring(text) == text
    assert (
        vader.polarity_scores("Not convinced. Trump Putin energy")["compound"]
        != vader.polarity_scores(text)["compound"]
    )
    assert clean_for_scoring("so #SoTired of #GameDay") == "so So Tired of #GameDay"


def test_white_space_runs_become_one_space_and_vader_reads_the_same(
    vader: SentimentIntensityAnalyzer,
) -> None:
    text = "so\n\n  GOOD\t\u00a0but\r\nbad 😂\n😭"
    assert clean_for_scoring(text) == "so GOOD but bad 😂 😭"
    assert vader.polarity_scores(clean_for_scoring(text)) == vader.polarity_scores(text)


def test_the_clean_ups_change_corpus_scores_only_where_the_text_needed_it(
    vader: SentimentIntensityAnalyzer,
) -> None:
    """Stock VADER on the raw post against stock VADER on the cleaned copy, every simulator corpus post: the
    only scores that move are those of posts with U+FE0F (❤️ read as "red heart"), and they move up."""
    from monitor.simulator.corpus import load_corpus

    moved = []
    for post in load_corpus():
        raw, cleaned = (
            vader.polarity_scores(post.text),
            vader.polarity_scores(clean_for_scoring(post.text)),
        )
        if raw != cleaned:
            moved.append((post.text, raw["compound"], cleaned["compound"]))
    print(f"{len(moved)} corpus scores differ from stock VADER on the raw text")
    assert 0 < len(moved) < 100
    assert all(
        "\ufe0f" in text and "\u2764" in text and after > before for text, before, after in moved
    )


def test_clean_keeps_case_punctuation_and_stop_words() -> None:
    text = "This is NOT good!!! :( but I'm fine,\n\n  mail me: ana@example.com"
    assert (
        clean_for_scoring(text) == "This is NOT good!!! :( but I'm fine, mail me: ana@example.com"
    )


# --- truncate_display -------------------------------------------------------------------------


def test_truncate_display() -> None:
    assert truncate_display("line one\nline two", 100) == "line one line two"
    assert truncate_display("line one\nline two", 10) == "line one…"
    assert len(truncate_display("x" * 50, 10)) == 10
    assert truncate_display("abc", 3) == "abc"
    assert truncate_display("abcdef", 1) == "…"
    assert truncate_display("abcdef", 0) == ""
    assert truncate_display("cafe\u0301s", 5) == "caf…"  # no accent left without its letter
