"""VADER scores at several times stock speed, bit for bit the same.

Every post that reaches the scorer goes through `polarity_scores`, and stock vaderSentiment spends most of
that time on bookkeeping rather than on its rules: it rebuilds the text one character at a time to find
emojis, and lower-cases the whole word list again for every negation, idiom and "but" check, which makes
it quadratic in the number of words. `FastVader` applies the same rules, in the same order, to a word list
lower-cased once, so that a stored score never depends on which of the two computed it.

"The same" is a strong claim about somebody else's code, so it holds only for the release it was checked
against (`VERIFIED_VADER_VERSION`, by tests/test_vader.py); `make_analyzer` hands out the stock analyzer
for any other release until the tests have been run against it and the constant moved.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.resources
import re
import string
from collections.abc import Sequence
from typing import Any, Final

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    normalize,
    scalar_inc_dec,
)

__all__ = ["VERIFIED_VADER_VERSION", "FastVader", "make_analyzer", "vader_vocabulary"]

VERIFIED_VADER_VERSION: Final = "3.3.2"


def _installed_version() -> str | None:
    try:
        return importlib.metadata.version("vaderSentiment")
    except importlib.metadata.PackageNotFoundError:
        return None


# Read once: the equivalence was shown for one release of the rules, not for whatever is installed later.
_FAST_PATH_VERIFIED: bool = _installed_version() == VERIFIED_VADER_VERSION

# NEGATE is a list that stock VADER scans for every word it checks; a set answers the same question. The set is
# built at import, so code that edits vaderSentiment's NEGATE at run time needs the stock class. BOOSTER_DICT,
# SPECIAL_CASES and the analyzer's lexicon are dicts and are read live; the emoji keys are read at construction.
_NEGATE: Final = frozenset(NEGATE)
_PUNCTUATION: Final = string.punctuation
_SO_THIS: Final = ("so", "this")
_ASTRAL: Final = r"[\U00010000-\U0010FFFF]"
_MAX_TOKENS: Final = 200_000  # remembered tokens (a few tens of MB at most)


def _negates(word_lower: str) -> bool:
    # Stock `negated([w])` lower-cases `w` a second time; str.lower is idempotent, so that changes nothing.
    return word_lower in _NEGATE or "n't" in word_lower


def _booster(word: str, word_lower: str, valence: float, is_cap_diff: bool) -> float:
    # Almost no word is a booster: test that first and leave the (rare) real work to the library's function.
    if word_lower in BOOSTER_DICT:
        return scalar_inc_dec(word, valence, is_cap_diff)
    return 0.0


# Every n-gram the idiom check looks up has a space in it, so only the multi-word keys of the two
# tables can ever match, and only when each of their words is at hand. The words are re-read
# whenever a table gains or loses keys, so an edit to vaderSentiment's dicts still counts.
_idiom_words_for: tuple[int, int] = (-1, -1)
_idiom_words: frozenset[str] = frozenset()


def _words_in_idioms() -> frozenset[str]:
    global _idiom_words_for, _idiom_words
    sizes = (len(SPECIAL_CASES), len(BOOSTER_DICT))
    if sizes != _idiom_words_for:
        _idiom_words = frozenset(
            w for key in (*SPECIAL_CASES, *BOOSTER_DICT) if " " in key for w in key.split(" ")
        )
        _idiom_words_for = sizes
    return _idiom_words


def _idiom_valence(valence: float, lowers: Sequence[str], i: int) -> float:
    """Stock `_special_idioms_check`, fed the word list lower-cased once instead of on every call."""
    w3, w2, w1, w0 = lowers[i - 3], lowers[i - 2], lowers[i - 1], lowers[i]
    words = _words_in_idioms()
    # Each n-gram below holds w1 or w2, or starts with w0: with none of them in an idiom, none matches.
    if w0 not in words and w1 not in words and w2 not in words:
        return valence
    onezero = f"{w1} {w0}"
    twoonezero = f"{w2} {w1} {w0}"
    twoone = f"{w2} {w1}"
    threetwoone = f"{w3} {w2} {w1}"
    threetwo = f"{w3} {w2}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in SPECIAL_CASES:
            valence = SPECIAL_CASES[seq]
            break
    if len(lowers) - 1 > i:
        zeroone = f"{w0} {lowers[i + 1]}"
        if zeroone in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroone]
    if len(lowers) - 1 > i + 1:
        zeroonetwo = f"{w0} {lowers[i + 1]} {lowers[i + 2]}"
        if zeroonetwo in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[n_gram]
    return valence


def _scores(sentiments: list[float], text: str) -> dict[str, float]:
    """Stock `score_valence`, minus five method calls and a pass over the zeros, which are most of the words.

    Every float operation is the stock one, in the stock order, down to `sum()` where stock uses `sum()` and a
    `+=` loop where it loops (from Python 3.12 on, `sum()` of floats compensates rounding, a loop does not).
    """
    if not sentiments:
        return {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}
    sum_s = float(sum(sentiments))
    ep_count = min(text.count("!"), 4)
    qm_count = text.count("?")
    qm_amplifier: float = 0
    if qm_count > 1:
        qm_amplifier = qm_count * 0.18 if qm_count <= 3 else 0.96
    punct_emph_amplifier = ep_count * 0.292 + qm_amplifier
    if sum_s > 0:
        sum_s += punct_emph_amplifier
    elif sum_s < 0:
        sum_s -= punct_emph_amplifier
    compound = normalize(sum_s)

    pos_sum = 0.0
    neg_sum = 0.0
    # the values == 0, as the stock loop counts them; the loop skips them
    neu_count = sentiments.count(0)
    for sentiment in filter(None, sentiments):
        if sentiment > 0:
            pos_sum += float(sentiment) + 1
        elif sentiment < 0:
            neg_sum += float(sentiment) - 1
    abs_neg = abs(neg_sum)
    if pos_sum > abs_neg:
        pos_sum += punct_emph_amplifier
    elif pos_sum < abs_neg:
        neg_sum -= punct_emph_amplifier
    total = pos_sum + abs(neg_sum) + neu_count
    return {
        "neg": round(abs(neg_sum / total), 3),
        "neu": round(abs(neu_count / total), 3),
        "pos": round(abs(pos_sum / total), 3),
        "compound": round(compound, 4),
    }


class FastVader(SentimentIntensityAnalyzer):
    """The stock analyzer with a `polarity_scores` that does the same arithmetic without the overhead.

    Only `polarity_scores` is replaced; the lexicons are the ones the stock constructor reads, so a custom
    lexicon file works as it does for the stock class. Input that is not exactly a `str` goes to the stock
    method, which is the only definition of what VADER does with it.
    """

    def __init__(
        self, lexicon_file: str = "vader_lexicon.txt", emoji_lexicon: str = "emoji_utf8_lexicon.txt"
    ) -> None:
        super().__init__(lexicon_file=lexicon_file, emoji_lexicon=emoji_lexicon)
        self._fast = _FAST_PATH_VERIFIED
        # Stock VADER tests one character at a time against the emoji table, so only one-character keys can
        # ever match. The set of keys is taken here, from the table the constructor just built.
        singles = sorted(key for key in self.emojis if len(key) == 1)
        # Python's regex engine tests a class of characters beyond U+FFFF range by range (about 60 of them
        # here, for every character of the text), so those are matched as "any astral character" and looked
        # up in `_describe_emoji` instead.
        bmp = "".join(re.escape(ch) for ch in singles if ord(ch) <= 0xFFFF)
        alternatives = ([f"[{bmp}]"] if bmp else []) + (
            [_ASTRAL] if any(ord(ch) > 0xFFFF for ch in singles) else []
        )
        self._emoji_re: re.Pattern[str] | None = (
            re.compile("|".join(alternatives)) if alternatives else None
        )
        # With no ASCII key (true of the bundled table), most posts need no look at all.
        self._ascii_has_no_emoji = not any(ch.isascii() for ch in singles)
        self._tokens: dict[str, tuple[str, str, bool]] = {}

    def polarity_scores(self, text: Any) -> dict[str, float]:
        """The stock method's dict, to the bit: stored scores must not depend on which analyzer made them."""
        if not self._fast or type(text) is not str:
            return super().polarity_scores(text)
        if self._emoji_re is not None and not (self._ascii_has_no_emoji and text.isascii()):
            text = self._emoji_re.sub(self._describe_emoji, text)
        # only whitespace, which nothing below sees, but it keeps the text the stock one
        text = text.strip()

        # SentiText: split on whitespace, strip punctuation unless that leaves 2 characters or fewer (":)").
        # A token's word, its lower case and whether it is all capitals depend on the token alone, and
        # tokens repeat from post to post, so they are remembered (`_token`).
        known = self._tokens.get
        entries = [known(token) or self._token(token) for token in text.split()]
        words: tuple[str, ...] = ()
        lowers: tuple[str, ...] = ()
        n_upper = 0
        if entries:
            words, lowers, uppers = zip(*entries, strict=False)
            n_upper = sum(uppers)
        is_cap_diff = 0 < len(words) - n_upper < len(words)

        # Words outside the lexicon, boosters and the "kind" of "kind of" score an int 0, as in the stock code.
        lexicon = self.lexicon
        sentiments: list[float] = [0] * len(words)
        last = len(words) - 1
        for i in [i for i, lower in enumerate(lowers) if lower in lexicon]:
            lower = lowers[i]
            if lower not in BOOSTER_DICT and not (
                lower == "kind" and i < last and lowers[i + 1] == "of"
            ):
                sentiments[i] = self._word_valence(i, words, lowers, is_cap_diff)

        if "but" in lowers:
            # Rare, and the stock loop is subtle (`list.index` finds the first EQUAL value, which may be an
            # element it already scaled), so it runs as it is.
            sentiments = self._but_check(words, sentiments)
        return _scores(sentiments, text)

    def _token(self, token: str) -> tuple[str, str, bool]:
        stripped = token.strip(_PUNCTUATION)
        word = stripped if len(stripped) > 2 else token
        if len(self._tokens) >= _MAX_TOKENS:
            self._tokens.clear()  # a bound, not an eviction policy: the common words come straight back
        entry = self._tokens[token] = (word, word.lower(), word.isupper())
        return entry

    def _describe_emoji(self, match: re.Match[str]) -> str:
        char = match.group()
        description: str | None = self.emojis.get(char)
        if description is None:  # an astral character that is not an emoji
            return char
        # Stock VADER puts a space before the description unless it starts the text or follows a ' '.
        start = match.start()
        if start and match.string[start - 1] != " ":
            return " " + description
        return description

    def _word_valence(
        self, i: int, words: Sequence[str], lowers: Sequence[str], is_cap_diff: bool
    ) -> float:
        """Stock `sentiment_valence` for a lexicon word, step by step, on the once-lowered word list."""
        lexicon = self.lexicon
        lower = lowers[i]
        valence: float = lexicon[lower]
        # "no" before another lexicon word negates that word instead of counting on its own.
        if lower == "no" and i != len(words) - 1 and lowers[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lowers[i - 1] == "no")
            or (i > 1 and lowers[i - 2] == "no")
            or (i > 2 and lowers[i - 3] == "no" and lowers[i - 1] in ("or", "nor"))
        ):
            valence = lexicon[lower] * N_SCALAR
        if words[i].isupper() and is_cap_diff:
            if valence > 0:
                valence += C_INCR
            else:
                valence -= C_INCR

        # The three preceding words that are not lexicon words themselves: boosters, negations, idioms.
        if i > 0 and lowers[i - 1] not in lexicon:
            valence = valence + _booster(words[i - 1], lowers[i - 1], valence, is_cap_diff)
            if _negates(lowers[i - 1]):
                valence = valence * N_SCALAR
        if i > 1 and lowers[i - 2] not in lexicon:
            s = _booster(words[i - 2], lowers[i - 2], valence, is_cap_diff)
            if s != 0:
                s = s * 0.95
            valence = valence + s
            if lowers[i - 2] == "never" and lowers[i - 1] in _SO_THIS:
                valence = valence * 1.25
            elif lowers[i - 2] == "without" and lowers[i - 1] == "doubt":
                pass
            elif _negates(lowers[i - 2]):
                valence = valence * N_SCALAR
        if i > 2 and lowers[i - 3] not in lexicon:
            s = _booster(words[i - 3], lowers[i - 3], valence, is_cap_diff)
            if s != 0:
                s = s * 0.9
            valence = valence + s
            if (lowers[i - 3] == "never" and lowers[i - 2] in _SO_THIS) or lowers[
                i - 1
            ] in _SO_THIS:
                valence = valence * 1.25
            elif lowers[i - 3] == "without" and (
                lowers[i - 2] == "doubt" or lowers[i - 1] == "doubt"
            ):
                pass
            elif _negates(lowers[i - 3]):
                valence = valence * N_SCALAR
            valence = _idiom_valence(valence, lowers, i)

        # "least" negates, except in "at least" and "very least".
        if (
            i > 0
            and lowers[i - 1] == "least"
            and lowers[i - 1] not in lexicon
            and (i == 1 or (lowers[i - 2] != "at" and lowers[i - 2] != "very"))
        ):
            valence = valence * N_SCALAR
        return valence


def make_analyzer() -> SentimentIntensityAnalyzer:
    """The analyzer the scorer should use: FastVader on the verified release of vaderSentiment, else stock."""
    if _FAST_PATH_VERIFIED:
        return FastVader()
    return SentimentIntensityAnalyzer()


# Words whose presence changes what VADER computes: its lexicon, its negations and boosters, and the words its
# rules look for ("but", "least", "kind of", "never so/this", "without doubt"). The clean-up asks this before it
# removes a mention or splits a hashtag, so that it changes only what VADER would otherwise misread.
_RULE_WORDS: Final = frozenset(
    {"but", "least", "kind", "of", "so", "this", "at", "very", "doubt", "without", "never"}
)


@functools.cache
def vader_vocabulary() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(lexicon words, every word VADER's rules read, the characters its emoji table knows), read once from the
    installed vaderSentiment's own files (~10 ms), without building an analyzer."""
    package = importlib.resources.files("vaderSentiment")
    lexicon = frozenset(
        line.split("\t", 1)[0]
        for line in package.joinpath("vader_lexicon.txt").read_text("utf-8").splitlines()
        if line.strip()
    )
    emoji = frozenset(
        key
        for line in package.joinpath("emoji_utf8_lexicon.txt").read_text("utf-8").splitlines()
        if len(key := line.split("\t", 1)[0])
        == 1  # stock VADER looks emoji up one character at a time
    )
    read = lexicon | _NEGATE | frozenset(BOOSTER_DICT) | _RULE_WORDS
    return lexicon, read, emoji
