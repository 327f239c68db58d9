"""FastVader against stock VADER: the same scores, to the bit, on the corpus, VADER's own examples and a fuzz."""

from __future__ import annotations

import importlib.metadata
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import vaderSentiment.vaderSentiment as vs
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

import monitor.core.vader
from monitor.core.text import clean_for_scoring
from monitor.core.vader import VERIFIED_VADER_VERSION, FastVader, make_analyzer
from monitor.simulator.corpus import load_corpus

INSTALLED = importlib.metadata.version("vaderSentiment")
verified_only = pytest.mark.skipif(
    INSTALLED != VERIFIED_VADER_VERSION,
    reason=f"vaderSentiment {INSTALLED} is installed and FastVader falls back to stock on it; to verify the fast "
    f"path on it, set VERIFIED_VADER_VERSION to {INSTALLED!r} and run these tests",
)


@pytest.fixture(scope="module")
def stock() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@pytest.fixture(scope="module")
def fast() -> FastVader:
    return FastVader()


@pytest.fixture(params=["rounded", "unrounded"])
def rounding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Unrounded, both analyzers return their raw floats: an operation done in another order shows up there
    even when the 3 or 4 decimals kept would hide it."""
    if request.param == "unrounded":
        for module in (vs, monitor.core.vader):
            monkeypatch.setattr(module, "round", lambda number, ndigits=None: number, raising=False)
    return str(request.param)


def bits(scores: dict[str, float]) -> list[tuple[str, str, str]]:
    """Keys in order, value types and every bit of every value (== alone would take -0.0 for 0.0)."""
    return [(key, type(value).__name__, float(value).hex()) for key, value in scores.items()]


def assert_same(stock: SentimentIntensityAnalyzer, fast: FastVader, texts: list[str]) -> None:
    diverged = []
    for text in texts:
        want, got = stock.polarity_scores(text), fast.polarity_scores(text)
        if want != got or bits(want) != bits(got):
            diverged.append((text, want, got))
    assert not diverged, f"{len(diverged)} of {len(texts)} texts diverge, e.g. {diverged[:3]}"


# --- the fast path is the one under test ------------------------------------------------------


@verified_only
def test_fast_path_does_not_call_the_stock_method(
    fast: FastVader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Otherwise every equality below could hold because FastVader quietly asked the stock code."""

    def refuse(self: object, text: object) -> None:
        raise AssertionError("stock polarity_scores called")

    monkeypatch.setattr(SentimentIntensityAnalyzer, "polarity_scores", refuse)
    for text in [
        "VADER is VERY SMART, handsome, and FUNNY!!!",
        "good but bad 😁",
        "Привет 👍🏽",
        "",
        "  \t",
    ]:
        fast.polarity_scores(text)


@verified_only
def test_make_analyzer_gives_fast_vader_on_the_verified_release() -> None:
    assert INSTALLED == "3.3.2"
    assert isinstance(make_analyzer(), FastVader)


def test_unverified_release_gets_the_stock_analyzer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor.core.vader, "_FAST_PATH_VERIFIED", False)
    assert type(make_analyzer()) is SentimentIntensityAnalyzer
    # and a FastVader built anyway scores with the stock code
    calls: list[object] = []
    original = SentimentIntensityAnalyzer.polarity_scores

    def spy(self: SentimentIntensityAnalyzer, text: object) -> dict[str, float]:
        calls.append(text)
        return original(self, text)  # type: ignore[no-any-return]

    fast = FastVader()
    monkeypatch.setattr(SentimentIntensityAnalyzer, "polarity_scores", spy)
    fast.polarity_scores("good")
    assert calls == ["good"]


@verified_only
def test_reads_the_librarys_own_tables(
    stock: SentimentIntensityAnalyzer, fast: FastVader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not copies: an edit to vaderSentiment's dicts or to the analyzer's lexicon reaches FastVader as well."""
    assert fast.lexicon == stock.lexicon and fast.emojis == stock.emojis
    texts = [
        "it was rather good",
        "RATHER bad movie",
        "the film was pretty good",
        "meh",
        "not meh at all",
    ]
    before = [fast.polarity_scores(text) for text in texts]
    monkeypatch.setitem(vs.BOOSTER_DICT, "rather", vs.B_INCR)
    monkeypatch.setitem(vs.SPECIAL_CASES, "pretty good", -2.5)
    for analyzer in (stock, fast):
        monkeypatch.setitem(analyzer.lexicon, "meh", -0.7)
    after = [fast.polarity_scores(text) for text in texts]
    assert all(old != new for old, new in zip(before, after, strict=False)), list(
        zip(texts, before, after, strict=False)
    )
    assert_same(stock, fast, texts)


# --- equivalence ------------------------------------------------------------------------------


@verified_only
def test_every_corpus_post(
    stock: SentimentIntensityAnalyzer, fast: FastVader, rounding: str
) -> None:
    texts = [post.text for post in load_corpus()]
    assert len(texts) > 3000
    assert_same(stock, fast, texts)
    # what the scorer actually reads
    assert_same(stock, fast, [clean_for_scoring(text) for text in texts])


VADER_EXAMPLES = [
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
]
VADER_TRICKY = [
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.",
    "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.",
    "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!",
    "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.",
    "Without a doubt, an excellent idea.",
]
VADER_PARAGRAPH = [
    "It was one of the worst movies I've seen, despite good reviews.",
    "Unbelievably bad acting!!",
    "Poor direction.",
    "VERY poor production.",
    "The movie was bad.",
    "Very bad movie.",
    "VERY BAD movie!",
    (
        "It was one of the worst movies I've seen, despite good reviews. Unbelievably bad acting!! Poor direction. "
        "VERY poor production. The movie was bad. Very bad movie. VERY BAD movie!"
    ),
]
VADER_TAGS = [
    "balloons",
    "cake",
    "candles",
    "happy birthday",
    "friends",
    "laughing",
    "smiling",
    "party",
    "riot",
    "fire",
    "fight",
    "blood",
    "mob",
    "war",
    "police",
    "tear gas",
]


@verified_only
def test_vaders_own_examples(stock: SentimentIntensityAnalyzer, fast: FastVader) -> None:
    assert_same(stock, fast, VADER_EXAMPLES + VADER_TRICKY + VADER_PARAGRAPH + VADER_TAGS)


EDGE_CASES = [
    "",
    " ",
    "   ",
    "\t\n",
    "\n \t ",
    "\u00a0",
    "\u3000\x1c",
    "!",
    "?!?!",
    "???",
    "!!!!!!",
    ":)",
    ":D",
    # emojis: alone, first, last, consecutive, glued to words, after a space / tab / newline / another emoji
    "😁",
    " 😁 ",
    "😁good",
    "good😁",
    "good 😁",
    "good\t😁",
    "good\n😁bad",
    "😁😁😁",
    "😁 😁  😁",
    "a😁😁b",
    "\t😁",
    "😁\t",
    "💘💋",
    "good💘!!",
    "(😁)",
    "'😁'",
    "😁!",
    "🔛",
    "go🔛🆙",
    "🆙 ??",
    "👍🏽",
    "❤️",
    "❤ ️",
    "🇺🇸",
    # astral characters that are no emoji, and emoji-table keys longer than one character
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 good",
    "𐍈 bad",
    "good 𝔘😁𝔘",
    # "but": first, last, repeated, with equal valences on both sides
    "but",
    "good but",
    "but good",
    "good good but good good",
    "bad but bad but bad",
    "BUT good",
    "good, but... good",
    "nice nice nice but nice",
    "good bad good but bad good bad",
    "but but good but",
    "no no no but no",
    # "no"
    "no",
    "no good",
    "good no",
    "no good no",
    "no or bad",
    "no and bad",
    "no nor bad",
    "no, not good",
    "NO GOOD",
    "no no",
    "no kind of good",
    # least, never so, without doubt
    "least good",
    "least good at",
    "least good very",
    "at least good",
    "very least good",
    "the least good",
    "LEAST good",
    "at LEAST good",
    "never so good",
    "never this good",
    "never good",
    "never so very good",
    "without doubt good",
    "without a doubt good",
    "without any doubt good",
    "this good",
    "so good",
    # special cases and multi-word boosters
    "the shit",
    "THE SHIT",
    "you are the shit",
    "that is the bomb",
    "bad ass",
    "yeah right",
    "kiss of death",
    "to die for",
    "a beating heart",
    "bus stop",
    "kind of good",
    "sort of bad",
    "just enough good",
    "kind of",
    "kind",
    "it is kind of kind",
    "kinda good",
    "KIND OF GOOD",
    "sort of kind of good",
    # case, punctuation, contractions
    "GOOD",
    "GOOD bad",
    "GOOD BAD",
    "Good bad",
    "VERY good",
    "very GOOD thing",
    "(bad)",
    "'great'",
    "good!!!",
    '"good."',
    "...good...",
    "g!",
    "ok...",
    "isn't good",
    "don't like",
    "ain't bad",
    "can't stand",
    "naïve café",
    "İstanbul is great",
    "ΟΔΟΣ ΚΑΛΗ good",
    "straße good",
    "Привет, хорошо :)",
]


@verified_only
def test_edge_cases(stock: SentimentIntensityAnalyzer, fast: FastVader) -> None:
    assert_same(stock, fast, EDGE_CASES)


@verified_only
def test_non_str_input_goes_to_the_stock_method(
    stock: SentimentIntensityAnalyzer, fast: FastVader
) -> None:
    class Text(str):
        pass

    assert bits(fast.polarity_scores(Text("good 😁"))) == bits(
        stock.polarity_scores(Text("good 😁"))
    )
    assert fast.polarity_scores(["good", "😁", "bad"]) == stock.polarity_scores(
        ["good", "😁", "bad"]
    )
    for weird in (None, 3, b"good"):
        with pytest.raises(TypeError):
            stock.polarity_scores(weird)
        with pytest.raises(TypeError):
            fast.polarity_scores(weird)


# --- fuzz -------------------------------------------------------------------------------------

POSITIVE = [
    "good",
    "great",
    "love",
    "happy",
    "nice",
    "excellent",
    "funny",
    "smart",
    "lol",
    "win",
    "like",
    "kind",
]
NEGATIVE = [
    "bad",
    "horrible",
    "hate",
    "sad",
    "poor",
    "worst",
    "shit",
    "death",
    "die",
    "sux",
    "war",
    "fight",
]
FILLER = [
    "the",
    "a",
    "it",
    "was",
    "movie",
    "VADER",
    "of",
    "or",
    "nor",
    "and",
    "I",
    "sort",
    "at",
    "very",
    "so",
    "this",
    "never",
    "without",
    "doubt",
    "least",
    "no",
    "NO",
    "No",
    "right",
    "yeah",
    "kiss",
    "to",
    "for",
    "ass",
    "bomb",
    "heart",
    "beating",
    "bus",
    "stop",
    "enough",
    "just",
]
CONTRACTIONS = [
    "isn't",
    "wasn't",
    "don't",
    "can't",
    "ain't",
    "ISN'T",
    "Don't",
    "foon't",
    "n't",
    "dont",
    "cant",
]
EMOTICONS = [":)", ":D", ":-(", ":(", ";)", "<3", ":P", "XD", ":'(", "=)", ":-)", "(:", "^_^", "D:"]
PUNCT_ONLY = [
    "!",
    "!!",
    "!!!",
    "!!!!!",
    "?",
    "??",
    "???",
    "????",
    "...",
    "-",
    "--",
    "?!",
    "!?!",
    ",",
    "'",
    '"',
]
NON_ASCII = [
    "café",
    "naïve",
    "Привет",
    "хорошо",
    "ΟΔΟΣ",
    "ΣΟΦΟΣ",
    "İstanbul",
    "straße",
    "ǅemal",
    "Ⅻ",
    "𝔘𝔫𝔦",
    "𐍈",
    "日本語",
    "ｇｏｏｄ",
    "ＧＯＯＤ",
]
SEPARATORS = [" "] * 12 + ["  ", "\t", "\n", " \n ", "\u00a0", "\r\n", ""]
WRAPS = [
    ("(", ")"),
    ("'", "'"),
    ('"', '"'),
    ("", "!!!"),
    ("", "?"),
    ("", "..."),
    ("", ","),
    ("*", "*"),
    ("", "!?"),
    ("#", ""),
    ("@", ""),
    ("[", "]."),
    ("-", "-"),
]


def fuzz_texts(n: int, seed: int, analyzer: SentimentIntensityAnalyzer) -> Iterator[str]:
    rng = random.Random(seed)
    lexicon_words = sorted(analyzer.lexicon)
    emojis = sorted(key for key in analyzer.emojis if len(key) == 1)
    long_emoji_keys = sorted(key for key in analyzer.emojis if len(key) > 1)
    boosters = sorted(vs.BOOSTER_DICT)
    special = sorted(vs.SPECIAL_CASES)
    negate = sorted(vs.NEGATE)

    def word() -> str:
        kind = rng.randrange(14)
        if kind == 0:
            w = rng.choice(POSITIVE + NEGATIVE)
        elif kind == 1:
            w = rng.choice(lexicon_words)
        elif kind == 2:
            w = rng.choice(boosters)
        elif kind == 3:
            w = rng.choice(negate + CONTRACTIONS)
        elif kind == 4:
            w = rng.choice(special)
        elif kind == 5:
            w = rng.choice(["but", "BUT", "But", "but,", "but..."])
        elif kind == 6:
            w = rng.choice(EMOTICONS)
        elif kind == 7:
            w = rng.choice(emojis) if rng.random() < 0.85 else rng.choice(long_emoji_keys)
        elif kind == 8:
            w = "".join(rng.choice(emojis) for _ in range(rng.randint(2, 4)))  # consecutive emojis
        elif kind == 9:
            w = rng.choice(PUNCT_ONLY)
        elif kind == 10:
            w = rng.choice(NON_ASCII)
        elif kind == 11:  # multi-word phrases that steer the rules
            w = rng.choice(
                [
                    "at least",
                    "very least",
                    "never so",
                    "never this",
                    "without doubt",
                    "without a doubt",
                    "kind of",
                    "sort of",
                    "just enough",
                    "no or",
                    "no nor",
                    "not so",
                    "the least",
                ]
            )
        else:
            w = rng.choice(FILLER)
        shape = rng.random()
        if shape < 0.12:
            w = w.upper()
        elif shape < 0.17:
            w = w.capitalize()
        if rng.random() < 0.15:
            before, after = rng.choice(WRAPS)
            w = before + w + after
        if rng.random() < 0.08:  # an emoji glued to the word
            glued = rng.choice(emojis)
            w = glued + w if rng.random() < 0.5 else w + glued
        return w

    for _ in range(n):
        form = rng.random()
        if form < 0.01:
            yield rng.choice(["", " ", "\t", "\n\n", " \t \n "])
            continue
        if form < 0.08:  # the same valence before and after "but", several times
            w = rng.choice(POSITIVE + NEGATIVE)
            w = w.upper() if rng.random() < 0.3 else w
            parts = [w] * rng.randint(1, 3) + ["but"] + [w] * rng.randint(1, 3)
            if rng.random() < 0.3:
                parts += ["but", rng.choice(POSITIVE + NEGATIVE)]
            yield " ".join(parts) + rng.choice(["", "!", "!!!", "?", "??"])
            continue
        pieces = [word() for _ in range(rng.randint(1, 14))]
        text = pieces[0]
        for piece in pieces[1:]:
            text += rng.choice(SEPARATORS) + piece
        if rng.random() < 0.2:
            text = rng.choice(SEPARATORS) + text + rng.choice(SEPARATORS)
        if rng.random() < 0.1:
            text += rng.choice(PUNCT_ONLY)
        yield text


@pytest.mark.slow  # 25,000 generated texts through both analysers, twice
@verified_only
def test_fuzz(stock: SentimentIntensityAnalyzer, fast: FastVader, rounding: str) -> None:
    texts = list(fuzz_texts(25_000, seed=20240521, analyzer=stock))
    assert len(set(texts)) > 20_000
    if rounding == "unrounded":  # the patch took: raw floats come out
        assert fast.polarity_scores("good")["compound"] != round(
            fast.polarity_scores("good")["compound"], 4
        )
    assert_same(stock, fast, texts + EDGE_CASES)


# Entries the bundled tables lack but a custom lexicon may have: boosters, negations, "least", "but", "of" and a
# zero as lexicon words, and emojis with an ASCII key, with "!" in the description, in and beyond the BMP.
EXTRA_LEXICON = {
    "very": 1.1,
    "not": -0.9,
    "isn't": -0.4,
    "least": 0.6,
    "but": 0.8,
    "of": 0.3,
    "meh": 0.0,
    "so": 0.5,
    "doubt": -1.3,
    "never": -0.2,
    "at": 0.1,
    "kind of": 1.0,
}
EXTRA_EMOJIS = {
    "%": "percent wow!",
    "~": "tilde",
    "€": "euro sign",
    "𝔘": "fraktur u great",
    "ǅ": "dz",
}


@pytest.fixture(scope="module")
def custom_tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("vader")
    package = Path(vs.__file__).parent
    lexicon = (package / "vader_lexicon.txt").read_text(encoding="utf-8").rstrip("\n") + "\n"
    lexicon += "".join(f"{word}\t{value}\t0.5\t[1, 1]\n" for word, value in EXTRA_LEXICON.items())
    emojis = (package / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").rstrip("\n") + "\n"
    emojis += "".join(f"{key}\t{description}\n" for key, description in EXTRA_EMOJIS.items())
    (folder / "lexicon.txt").write_text(lexicon, encoding="utf-8")
    (folder / "emojis.txt").write_text(emojis.rstrip("\n"), encoding="utf-8")
    return str(folder / "lexicon.txt"), str(folder / "emojis.txt")


@verified_only
def test_fuzz_with_custom_tables(custom_tables: tuple[str, str], rounding: str) -> None:
    lexicon, emojis = custom_tables
    stock = SentimentIntensityAnalyzer(lexicon_file=lexicon, emoji_lexicon=emojis)
    fast = FastVader(lexicon_file=lexicon, emoji_lexicon=emojis)
    assert fast.lexicon["very"] == 1.1 and fast.emojis["%"] == "percent wow!"
    texts = list(fuzz_texts(8_000, seed=7, analyzer=stock))
    extras = list(EXTRA_LEXICON) + list(EXTRA_EMOJIS)
    rng = random.Random(11)
    texts += [
        " ".join(
            rng.choice(extras + POSITIVE + NEGATIVE + FILLER) for _ in range(rng.randint(1, 9))
        )
        + rng.choice(["", "%", " ~", "!!", "?"])
        for _ in range(4_000)
    ]
    assert_same(
        stock,
        fast,
        texts + EDGE_CASES + ["100%", "%good", "a%b %% ~", "not meh", "no meh", "MEH good"],
    )


@verified_only
def test_remembered_tokens_are_bounded_and_change_nothing(
    stock: SentimentIntensityAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Token results are remembered up to a bound; a small bound (cleared again and again) and a
    warm memory must both give the stock scores."""
    monkeypatch.setattr(monitor.core.vader, "_MAX_TOKENS", 50)
    fast = FastVader()
    texts = [clean_for_scoring(post.text) for post in load_corpus()][:600]
    assert_same(stock, fast, texts)
    assert 0 < len(fast._tokens) <= 50
    monkeypatch.setattr(monitor.core.vader, "_MAX_TOKENS", 200_000)
    assert_same(stock, fast, texts + texts)  # the second pass reads every token from memory
    assert len(fast._tokens) > 500
