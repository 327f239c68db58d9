"""Topic matching: hashtags, keywords, exclusions, languages."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from monitor.ingest.match import TopicMatcher


@dataclass
class Topic:
    """Stands in for monitor.config.feeds.Topic: the matcher only reads these attributes."""

    name: str
    hashtags: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    languages: list[str] | None = None


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    return TopicMatcher(
        [
            Topic(
                "summit",
                hashtags=["#TrumpPutin", "ТрампПутин"],
                keywords=["Dmitriev", "Russia sanctions"],
                exclude=["#giveaway", "crypto airdrop"],
            ),
            Topic("russian", keywords=["санкции", "Дмитриев"], languages=["ru"]),
            Topic("sanctions", hashtags=["sanctions"], keywords=["Russia"], languages=["en", "de"]),
        ]
    )


def test_hashtag_in_text_any_case(matcher: TopicMatcher) -> None:
    assert matcher.match("what a day #trumpputin") == ["summit"]
    assert matcher.match("#TRUMPPUTIN!") == ["summit"]


def test_cyrillic_hashtag_and_keyword(matcher: TopicMatcher) -> None:
    assert matcher.match("итоги встречи #ТрампПутин") == ["summit"]
    assert matcher.match("ДМИТРИЕВ опять про санкции", lang="ru") == ["russian"]


def test_platform_tag_list_with_or_without_hash(matcher: TopicMatcher) -> None:
    assert matcher.match("no tags in the text", tags=["#TrumpPutin"]) == ["summit"]
    assert matcher.match("no tags in the text", tags=["trumpputin"]) == ["summit"]
    assert matcher.match("no tags in the text", tags=["SANCTIONS"]) == ["sanctions"]
    assert matcher.match("no tags in the text", tags=None) == []


def test_hashtag_is_not_a_keyword_and_keyword_is_not_a_hashtag(matcher: TopicMatcher) -> None:
    assert matcher.match("trumpputin without the hash") == []
    assert matcher.match("new sanctions announced") == []  # 'sanctions' is a hashtag-only term
    assert matcher.match("see https://example.org/page#TrumpPutin") == []


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("Dmitriev's comments", True),
        ("DMITRIEV, again", True),
        ("(dmitriev)", True),
        ("Dmitrievsky said", False),
        ("kdmitriev", False),
    ],
)
def test_keywords_match_whole_words_only(matcher: TopicMatcher, text: str, hit: bool) -> None:
    assert ("summit" in matcher.match(text)) is hit


def test_phrase_tolerates_any_whitespace_and_camelcase_hashtags(matcher: TopicMatcher) -> None:
    assert matcher.match("new Russia\n   sanctions", lang="en") == ["summit", "sanctions"]
    assert matcher.match("#RussiaSanctions now", lang="en") == ["summit", "sanctions"]
    assert "summit" not in matcher.match("Russia, sanctions?")


def test_overlapping_keywords_all_count() -> None:
    m = TopicMatcher(
        [
            Topic("a", keywords=["Trump Putin"]),
            Topic("b", keywords=["Putin summit"]),
            Topic("c", keywords=["Putin"]),
        ]
    )
    assert m.match("the Trump Putin summit") == ["a", "b", "c"]


def test_exclusions_veto_by_tag_and_by_keyword(matcher: TopicMatcher) -> None:
    assert matcher.match("#TrumpPutin #Giveaway") == []
    assert matcher.match("#TrumpPutin", tags=["giveaway"]) == []
    assert matcher.match("Dmitriev crypto airdrop now") == []
    assert matcher.match("Dmitriev crypto") == ["summit"]  # only the whole phrase excludes


def test_languages_filter(matcher: TopicMatcher) -> None:
    assert matcher.match("Russia", lang="en") == ["sanctions"]
    assert matcher.match("Russia", lang="DE-at") == ["sanctions"]
    assert matcher.match("Russia", lang="fr") == []
    assert matcher.match("Russia", lang=None) == ["sanctions"]  # unknown language passes
    assert matcher.match("санкции", lang="uk") == []


def test_results_in_config_order(matcher: TopicMatcher) -> None:
    assert matcher.match("Russia #TrumpPutin санкции") == ["summit", "russian", "sanctions"]


def test_match_all_honours_languages(matcher: TopicMatcher) -> None:
    assert matcher.match_all() == ["summit", "russian", "sanctions"]
    assert matcher.match_all("ru") == ["summit", "russian"]
    assert matcher.match_all("fr") == ["summit"]


def test_no_topics_and_empty_topics() -> None:
    assert TopicMatcher([]).match("anything #at all") == []
    assert TopicMatcher([Topic("empty")]).match("anything") == []
    assert TopicMatcher([Topic("empty")]).match_all() == ["empty"]


def test_ten_thousand_generated_posts_match_as_a_plain_search_would(matcher: TopicMatcher) -> None:
    """The matcher's speed is measured in benchmarks/; here its answers on a large mixed set."""
    rng = random.Random(3)
    words = (
        "the a trump putin meeting deal wild lol russia sanctions dmitriev said today news "
        "#TrumpPutin #news crypto great bad not happy https://example.org/a#b"
    ).split()
    posts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 25))) for _ in range(10_000)]

    def expected(post: str) -> list[str]:
        words = post.split()
        pairs = set(zip(words, words[1:], strict=False))
        summit = "#TrumpPutin" in words or "dmitriev" in words or ("russia", "sanctions") in pairs
        return [name for name, hit in (("summit", summit), ("sanctions", "russia" in words)) if hit]

    got = [matcher.match(p, ("news",), "en") for p in posts]
    assert got == [expected(p) for p in posts]
    assert 1000 < sum(map(bool, got)) < 10_000
