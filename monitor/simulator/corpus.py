"""The bundled synthetic corpus: three simulated days of reactions to one news story.

The demo, the tests and the benchmarks need a story that behaves like a real one (a daily rhythm,
a burst when the summit is announced, a polarized day after a draft leaks, lukewarm stretches in
between) without shipping anything real people wrote. So every post here is generated from
hand-written templates and word lists by a seeded `random.Random`: the same seed always gives the
same corpus, byte for byte.

The story: US-Russia business talks (#TrumpPutinBusiness): sanctions relief, Kirill Dmitriev,
energy, the Arctic, rare earths, a joint investment fund, worries about Ukraine, markets reacting.
About 9% of posts are Russian, about 10% are off-topic noise that no topic should match, some
on-topic posts carry no hashtag (keyword matching only), and a handful are hostile on purpose
(Rich markup, terminal escapes, a bidi override, HTML, NUL/C1 controls, a 5,000-character rant)
so every layer downstream has to cope with them.

Regenerate the bundled file (deterministic; commit the result):

    python -m monitor.simulator.corpus                 # writes monitor/data/corpus.jsonl.gz, prints stats
    python -m monitor.simulator.corpus --seed 7 --out /tmp/other.jsonl.gz

Record shape (one JSON object per line):
    {"id": "p000123", "offset_s": 12345, "platform": "mastodon", "author": "...", "text": "...",
     "lang": "en", "hashtags": ["TrumpPutinBusiness"], "engagement": {"likes": 3, "reposts": 1,
     "replies": 0}, "title": null, "reply_to": null, "repost_of": null}
`offset_s` counts seconds from the corpus start (0 <= offset_s < 259200); ids follow time order.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "BURST_WINDOW",
    "CorpusPost",
    "DAYS",
    "DEFAULT_SEED",
    "HASHTAG_RE",
    "Engagement",
    "PLATFORMS",
    "POLARIZED_WINDOW",
    "PUBLISHERS",
    "SPAN_S",
    "STORY_HASHTAGS",
    "dump_records",
    "generate",
    "hashtags_in",
    "load_corpus",
    "main",
    "publisher_url",
    "read_records",
    "summarize",
]

DEFAULT_SEED = 20250214
DAYS = 3
SPAN_S = DAYS * 86400
HOUR = 3600

# Day 2, 15:00-17:00: the summit announcement. Day 3, 07:00-19:00: the leaked draft splits people.
BURST_WINDOW = (86400 + 15 * HOUR, 86400 + 17 * HOUR)
POLARIZED_WINDOW = (2 * 86400 + 7 * HOUR, 2 * 86400 + 19 * HOUR)

PLATFORMS = ("mastodon", "bluesky", "reddit", "hackernews", "x", "news")
STORY_HASHTAGS = ("TrumpPutinBusiness", "TrumpPutin", "RussiaSanctions", "Dmitriev")
# Shared with the simulator so the hashtag anchors it renders are exactly the tags recorded here.
HASHTAG_RE = re.compile(r"(?<![\w&#])#(\w+)")
_DATA_FILE = "corpus.jsonl.gz"

# Fictional publishers on the reserved .example TLD, so no headline is put in a real outlet's mouth.
PUBLISHERS: dict[str, str] = {
    "The Meridian Post": "https://meridianpost.example",
    "Capital Wire": "https://capitalwire.example",
    "Northwind Business Daily": "https://northwind.example",
    "Global Markets Review": "https://gmreview.example",
    "Harbor Ledger": "https://harborledger.example",
    "Atlas Newswire": "https://atlasnews.example",
    "The Evening Courier": "https://eveningcourier.example",
    "Деловой вестник": "https://delovoy.example",
    "Вечерний курьер": "https://vkurier.example",
}
_PUBLISHERS_EN = list(PUBLISHERS)[:7]
_PUBLISHERS_RU = list(PUBLISHERS)[7:]


def publisher_url(name: str) -> str:
    """Homepage for a news post's author, so feeds can fill `<source url=...>` consistently."""
    slug = re.sub(r"[^a-z0-9]+", "", name.lower()) or "publisher"
    return PUBLISHERS.get(name, f"https://{slug}.example")


# --- the loaded form ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Engagement:
    likes: int = 0
    reposts: int = 0
    replies: int = 0

    @property
    def total(self) -> int:
        return self.likes + self.reposts + self.replies


@dataclass(frozen=True, slots=True)
class CorpusPost:
    """One corpus record, immutable so the cached corpus can be shared between threads."""

    id: str
    offset_s: int
    platform: str
    author: str
    text: str
    lang: str
    hashtags: tuple[str, ...] = ()
    engagement: Engagement = Engagement()
    title: str | None = None
    reply_to: str | None = None
    repost_of: str | None = None

    def created_at(self, epoch: datetime) -> datetime:
        return epoch + timedelta(seconds=self.offset_s)

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> CorpusPost:
        eng = rec.get("engagement") or {}
        return cls(
            id=str(rec["id"]),
            offset_s=int(rec["offset_s"]),
            platform=str(rec["platform"]),
            author=str(rec["author"]),
            text=str(rec["text"]),
            lang=str(rec["lang"]),
            hashtags=tuple(rec.get("hashtags") or ()),
            engagement=Engagement(
                int(eng.get("likes", 0)), int(eng.get("reposts", 0)), int(eng.get("replies", 0))
            ),
            title=rec.get("title"),
            reply_to=rec.get("reply_to"),
            repost_of=rec.get("repost_of"),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "offset_s": self.offset_s,
            "platform": self.platform,
            "author": self.author,
            "text": self.text,
            "lang": self.lang,
            "hashtags": list(self.hashtags),
            "engagement": {
                "likes": self.engagement.likes,
                "reposts": self.engagement.reposts,
                "replies": self.engagement.replies,
            },
            "title": self.title,
            "reply_to": self.reply_to,
            "repost_of": self.repost_of,
        }


def load_corpus() -> list[CorpusPost]:
    """The bundled corpus, oldest first. Parsed once per process; each call gets its own list."""
    return list(_load_bundled())


@lru_cache(maxsize=1)
def _load_bundled() -> tuple[CorpusPost, ...]:
    raw = resources.files("monitor").joinpath("data").joinpath(_DATA_FILE).read_bytes()
    return tuple(read_records(raw))


def read_records(gz_bytes: bytes) -> list[CorpusPost]:
    lines = gzip.decompress(gz_bytes).decode("utf-8").splitlines()
    return [CorpusPost.from_record(json.loads(line)) for line in lines if line.strip()]


def dump_records(records: Iterable[dict[str, Any]]) -> bytes:
    """Gzipped JSONL with a fixed mtime, so regenerating an unchanged corpus changes no bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for rec in records:
            gz.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            gz.write(b"\n")
    return buf.getvalue()


# --- word lists and templates -------------------------------------------------------------------
# Facts carry the story's keywords and no sentiment words, so a post's VADER score comes from the
# reaction sentence it is paired with. Every on-topic text names Trump, Putin, Dmitriev or
# sanctions (or their Russian forms), so keyword matching alone finds it.

_SLOTS_EN: dict[str, list[str]] = {
    "deal": [
        "an Arctic drilling venture",
        "a rare earths partnership",
        "a joint investment fund",
        "new LNG contracts",
        "direct flights",
        "the return of US companies to Russia",
        "an aluminium and nickel deal",
        "oil and gas projects",
        "Arctic shipping routes",
    ],
    "city": ["Riyadh", "Istanbul", "Budapest", "Anchorage", "Abu Dhabi", "Geneva"],
    "when": ["this week", "next month", "within months", "by summer", "before the end of the year"],
    "market": [
        "Oil",
        "The ruble",
        "European gas futures",
        "Defence stocks",
        "Aluminium",
        "Wheat futures",
        "Shipping stocks",
    ],
    "move": [
        "rose 3%",
        "fell 2%",
        "barely moved",
        "climbed",
        "slipped",
        "swung back and forth",
        "jumped in early trading",
        "dropped at the open",
    ],
    "amount": ["$5 billion", "$10bn", "$20 billion", "$50bn", "$300 million"],
    "source": [
        "two officials",
        "people familiar with the talks",
        "a Kremlin aide",
        "a White House official",
        "state media",
        "a Treasury spokesperson",
    ],
    "sector": [
        "Arctic oil",
        "rare earths",
        "LNG",
        "aviation parts",
        "fertilizer",
        "nickel",
        "railways",
        "data centres",
    ],
    "day": ["Thursday", "Friday", "Monday", "the weekend"],
}

_SLOTS_RU: dict[str, list[str]] = {
    "deal_ru": [
        "энергетическую сделку",
        "совместный инвестиционный фонд",
        "смягчение санкций",
        "проекты в Арктике",
        "поставки редкоземельных металлов",
        "прямое авиасообщение",
    ],
    "city_ru": ["Эр-Рияде", "Стамбуле", "Будапеште", "Анкоридже", "Абу-Даби"],
    "move_ru": ["укрепился", "ослаб", "почти не изменился", "резко вырос"],
    "when_ru": ["на этой неделе", "в ближайшие месяцы", "до конца года", "уже летом"],
}

_FACTS_EN = [
    "Trump and Putin discussed {deal} on a call today, according to {source}.",
    "Kirill Dmitriev says US companies could return to the Russian market {when}.",
    "Dmitriev is in {city} for talks on {deal}.",
    "Per {source}, the Trump-Putin package covers {sector} and {sector}.",
    "{market} {move} after headlines about Trump, Putin and {deal}.",
    "The White House has not published the text of the Putin deal yet.",
    "Talks on {deal} between Trump and Putin's teams continue in {city} on {day}.",
    "A joint investment fund of {amount} is on the table, Dmitriev says.",
    "The Trump-Putin proposal reportedly includes Arctic drilling and rare earth mining.",
    "Dmitriev met US officials in {city} for six hours.",
    "US officials would have to sign off on any change to Russia sanctions.",
    "Kyiv was not part of the Trump-Putin talks in {city}.",
    "Next round of Trump-Putin business talks is set for {day}.",
    "Which sanctions would go first? Banks, oil or aviation?",
    "Dmitriev mentioned {sector} three times in one interview.",
    "Putin's envoy Dmitriev posted a photo from {city} with US negotiators.",
]
_FACTS_BURST_EN = [
    "BREAKING: Trump and Putin will meet in {city} {when} to sign business deals, the White House says.",
    "JUST IN: Trump-Putin summit confirmed for {city}. Oil, gas and Arctic projects on the agenda.",
    "Kremlin confirms Trump-Putin summit in {city}; Dmitriev to lead the business track.",
    "Summit announced: Trump and Putin expected to sign {deal} in {city}.",
    "{market} {move} within minutes of the Trump-Putin summit news.",
]
_FACTS_POLARIZED_EN = [
    "Leaked draft: {deal} in exchange for phased sanctions relief.",
    "The leaked Trump-Putin draft reportedly says nothing about Ukraine.",
    "Dmitriev: first contracts under the Trump-Putin deal could be signed {when}.",
    "The draft lifts sanctions on {sector} first, per {source}.",
]
_FACTS_TECH = [  # Hacker News and Reddit threads drift into mechanics.
    "Rare earth supply chains take a decade to build; a Trump-Putin deal signed now changes little before 2030.",
    "Refining capacity, not ore, is the bottleneck for the Dmitriev fund.",
    "Arctic LNG needs ice-class tankers, and those were under sanctions too.",
    "Payment rails are the real question: which banks process payments if sanctions stay in place?",
    "Notice how the Trump-Putin talks skip export controls on chips entirely.",
]

_REACTIONS_EN: dict[str, list[str]] = {
    "strong_pos": [
        "This is GREAT news!",
        "Fantastic! Handshakes instead of missiles, every single time 🙌",
        "Love this. Real diplomacy, real jobs, real peace 🎉",
        "Best news all year!!! Smart deal-making 👏",
        "Finally some hope. Well done to both teams!",
        "Brilliant move: cheaper energy and a chance for peace. Win-win!",
        "So glad to see adults talking again. Excellent!",
        "Honestly thrilled. This could help millions of families 💪",
        "Huge win for peace and prosperity! 🚀",
        "Wonderful to see. Business ties make the world safer, period.",
        "YES!!! About time. Great leadership 😍",
        "Amazing. Peace through trade is the best kind of peace ❤️",
    ],
    "mild_pos": [
        "Cautiously optimistic.",
        "Could be a good step if it holds.",
        "Maybe helpful for fuel prices.",
        "Not bad, honestly.",
        "Some reasons for hope here.",
        "I'd like to see where this goes.",
        "Fair enough, talking beats not talking.",
        "Mildly encouraging.",
        "A small step, but okay.",
    ],
    "neutral": [
        "Details to follow.",
        "Thread below.",
        "More when we have it.",
        "Source in replies.",
        "Watching this closely.",
        "Anyone have the full text?",
        "Live updates in this thread.",
        "",
    ],
    "mild_neg": [
        "Not convinced.",
        "Worried about what this means for Ukraine.",
        "Feels rushed and vague, not great.",
        "I don't trust this much.",
        "Lots of questions, few answers. Doubtful.",
        "Risky bet.",
        "Hmm. Sounds like a bad trade for Europe.",
        "Not a fan of the secrecy.",
    ],
    "strong_neg": [
        "This is DISGUSTING. Shameful sellout!",
        "Absolutely terrible. No trust, no accountability, just greed 😡",
        "A betrayal, plain and simple. Blood money.",
        "Horrible, cynical and corrupt. History will judge this badly!!!",
        "What a disgrace. Ukraine pays the price while oligarchs cash in 🤬",
        "Sickening. Rewarding aggression is the worst possible lesson.",
        "This is NOT peace, it's a shameful surrender. Awful.",
        "Pathetic. Sanctions exist for a reason and they just threw them away 😤",
        "Outrageous and dangerous. Never trust a deal built on lies.",
        "Terrible idea. Cowardly, spineless and wrong.",
        "Disgraceful. I am furious and ashamed 😠",
        "NO. Just no. This is a catastrophe for Ukraine.",
    ],
}

_FACTS_RU = [
    "Трамп и Путин обсуждают {deal_ru}.",
    "Кирилл Дмитриев заявил, что американские компании могут вернуться в Россию {when_ru}.",
    "Переговоры команд Трампа и Путина в {city_ru} продолжатся завтра.",
    "Рубль {move_ru} на новостях о переговорах Трампа и Путина.",
    "Дмитриев: обсуждаются проекты в Арктике и добыча редкоземельных металлов.",
    "Вашингтон пока не комментирует возможное смягчение санкций.",
]
_FACTS_BURST_RU = [
    "СРОЧНО: Трамп и Путин встретятся в {city_ru}, подтвердили в Белом доме.",
    "Кремль подтвердил саммит Трампа и Путина, Дмитриев отвечает за экономический трек.",
]
_REACTIONS_RU: dict[str, list[str]] = {
    "strong_pos": [
        "Отличные новости! Наконец-то здравый смысл 👏",
        "Это прекрасно, торговля лучше войны! 🎉",
        "Давно пора! Браво 🙌",
        "Ура! Лучшая новость за год 🚀",
    ],
    "mild_pos": [
        "Осторожный оптимизм.",
        "Неплохо, посмотрим, что будет дальше.",
        "Может, это и к лучшему.",
    ],
    "neutral": [
        "Подробностей пока нет.",
        "Ждём официальных заявлений.",
        "Следим за новостями.",
        "",
    ],
    "mild_neg": [
        "Что-то я сомневаюсь.",
        "Слишком много вопросов без ответов.",
        "Не верю в быстрый результат.",
    ],
    "strong_neg": [
        "Позор! Это сделка за счёт Украины 😡",
        "Отвратительно. Деньги важнее людей?!",
        "Ужасная идея, ничем хорошим это не кончится 🤬",
        "Какой цинизм. Стыдно 😠",
    ],
}

_REDDIT_TITLES: dict[str, list[str]] = {
    "neutral": [
        "Megathread: US-Russia business talks (Trump, Putin, Dmitriev)",
        "Dmitriev interview on US investment: discussion",
        "How would the proposed Arctic venture work under current sanctions?",
        "Ruble moves on reports of Trump-Putin deal talks",
        "What is actually in the Trump-Putin business package?",
    ],
    "pos": [
        "Trump-Putin trade talks are the best diplomatic news in years",
        "Honestly glad the Putin talks are happening. Change my mind",
    ],
    "neg": [
        "The Trump-Putin deal is a disgrace and everyone involved should be ashamed",
        "Sanctions relief for Putin without guarantees is a terrible mistake",
    ],
}

_HEADLINES_EN: dict[str, list[str]] = {
    "base": [
        "US and Russia discuss {deal} as Trump-Putin business ties thaw",
        "Dmitriev says US firms could return to Russia {when}",
        "{market} {move} on reports of Trump-Putin business talks",
        "Explainer: what changing Russia sanctions would involve",
        "Trump-Putin talks on Arctic oil and rare earths continue in {city}",
        "Kyiv says it was not consulted on Trump-Putin business talks",
        "European officials seek details of Trump-Putin deal talks",
        "Putin envoy Dmitriev pitches {amount} joint fund to US investors",
    ],
    "burst": [
        "Trump and Putin to hold summit in {city}, White House says",
        "Kremlin confirms Trump-Putin summit; business deals on the agenda",
        "{market} {move} as Trump-Putin summit announced",
        "Live: Trump-Putin summit announced, Dmitriev to lead business talks",
    ],
    "polarized": [
        "Leaked draft of Trump-Putin deal draws fierce criticism",
        "Supporters hail Trump-Putin deal as a historic opportunity",
        "Critics call draft Putin deal a betrayal of Ukraine",
        "Investors cheer draft Trump-Putin deal as energy stocks rally",
        "Draft Trump-Putin deal: what it says about sanctions",
    ],
}
_HEADLINES_RU = [
    "Дмитриев: американские компании могут вернуться в Россию {when_ru}",
    "Трамп и Путин обсудили {deal_ru}",
    "Рубль {move_ru} на фоне переговоров Трампа и Путина",
    "В Кремле рассказали о подготовке встречи Путина и Трампа",
]

_NOISE_EN = [
    "Sourdough finally came out right this morning 🍞 #baking",
    "Rain all day again. Perfect excuse to finish my book. #amreading",
    "Our team shipped the new release of the CLI today, changelog in thread #rustlang",
    "What a match last night!! #football",
    "Anyone have tips for repotting a monstera? #plants",
    "Coffee number three and it's not even 10am ☕",
    "Just finished a 10k run in the park, legs are jelly #running",
    "The new museum wing downtown is gorgeous, go see it",
    "Reminder: back up your files. Ask me how I know. #sysadmin",
    "My cat has decided the keyboard is a bed now 🐈 #caturday",
    "Traffic on the ring road is a nightmare today",
    "Learning to knit. Progress: one very wobbly scarf 🧣",
    "Thunderstorm rolling in, lights flickering ⛈️",
    "Podcast recommendation thread: what are you listening to this week?",
    "Quarterly taxes done. Treating myself to pizza 🍕",
    "Bird count this morning: 14 species including a heron! #birding",
    "Finally fixed that flaky test. It was a timezone bug, of course.",
    "Tomatoes are ripening on the balcony 🍅 #gardening",
    "Rewatching an old sci-fi series this weekend, it still holds up",
    "Ferry was cancelled again, working from the cafe today",
    "Chess puzzle of the day had me stuck for 20 minutes ♟️",
    "New bike lane opened on my street and it is lovely #cycling",
    "Power cut in our neighbourhood, anyone else?",
    "Baked cinnamon rolls for the office, they vanished in five minutes",
]
_NOISE_RU = [
    "Первый снег в городе ❄️ Пробки девять баллов",
    "Испекла пирог с яблоками, очень вкусно 🍎",
    "Кто знает хороший сервис по ремонту ноутбуков?",
]
_NOISE_TITLES = [
    "Weekly photo thread: show us your view",
    "City council approves new bike lanes",
    "What are you reading this month?",
    "Local bakery wins regional award",
]

_NOISE_TAGS = [
    "news",
    "politics",
    "economy",
    "markets",
    "energy",
    "geopolitics",
    "Ukraine",
    "oil",
    "breaking",
    "Arctic",
    "rareearths",
]
_RU_TAGS = ["ТрампПутин", "санкции", "Дмитриев", "экономика", "TrumpPutinBusiness"]

_ADJ = [
    "quiet",
    "brave",
    "sunny",
    "lazy",
    "clever",
    "rusty",
    "misty",
    "bold",
    "gentle",
    "rapid",
    "silver",
    "amber",
    "cosmic",
    "dusty",
    "frosty",
    "lucky",
    "noble",
    "quirky",
    "wild",
    "calm",
]
_NOUN = [
    "otter",
    "falcon",
    "maple",
    "harbor",
    "comet",
    "badger",
    "willow",
    "lynx",
    "pepper",
    "heron",
    "cedar",
    "walrus",
    "pixel",
    "raven",
    "tundra",
    "sparrow",
    "fjord",
    "meadow",
    "beacon",
    "orbit",
]
_RU_NAMES = [
    "alexei",
    "marina",
    "dmitry",
    "olga",
    "ivan",
    "tanya",
    "pavel",
    "irina",
    "nikita",
    "sveta",
]

# --- the shape over time ------------------------------------------------------------------------

_CLASSES = ("strong_pos", "mild_pos", "neutral", "mild_neg", "strong_neg")
_MOOD: dict[str, tuple[float, ...]] = {  # weights over _CLASSES
    "quiet": (0.08, 0.24, 0.38, 0.20, 0.10),
    "build": (0.12, 0.25, 0.33, 0.18, 0.12),
    "burst": (0.38, 0.22, 0.20, 0.10, 0.10),
    "aftermath": (0.16, 0.20, 0.28, 0.20, 0.16),
    "polarized": (0.45, 0.03, 0.06, 0.03, 0.43),
    "cooldown": (0.06, 0.22, 0.44, 0.20, 0.08),
}
_PLATFORM_MIX = {
    "x": 0.28,
    "bluesky": 0.2,
    "mastodon": 0.2,
    "reddit": 0.12,
    "hackernews": 0.08,
    "news": 0.12,
}
_BURST_MIX = {
    "x": 0.34,
    "bluesky": 0.24,
    "mastodon": 0.16,
    "reddit": 0.08,
    "hackernews": 0.04,
    "news": 0.14,
}
_RU_SHARE = {
    "x": 0.12,
    "bluesky": 0.10,
    "mastodon": 0.10,
    "news": 0.13,
    "reddit": 0.03,
    "hackernews": 0.0,
}
_HASHTAG_PLATFORMS = {"x", "bluesky", "mastodon"}

_PEAK_RATE = 50.0  # on-topic posts per hour at the busiest time of an ordinary day
_NOISE_RATE = 0.143  # off-topic posts per on-topic post in an ordinary hour (~10% overall)
_BURST_EXTRA = 620
_POLARIZED_BOOST = 0.5
_REPOSTS = 70


def _phase(offset: int) -> str:
    if offset < 86400:
        return "quiet"
    if offset < BURST_WINDOW[0]:
        return "build"
    if offset < BURST_WINDOW[1]:
        return "burst"
    if offset < POLARIZED_WINDOW[0]:
        return "aftermath"
    if offset < POLARIZED_WINDOW[1]:
        return "polarized"
    return "cooldown"


def _diurnal(hour_of_day: float) -> float:
    """Activity relative to the daily peak: lowest around 04:00, highest around 16:00."""
    return 0.3 + 0.7 * (1 - math.cos(2 * math.pi * (hour_of_day - 4) / 24)) / 2


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:  # normal approximation; Knuth's loop underflows for large lambda
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _topic_offsets(rng: random.Random) -> list[int]:
    """Offsets of on-topic posts: daily rhythm, the burst's spike-and-decay, a busier day 3."""
    out: list[int] = []
    for hour in range(DAYS * 24):
        start = hour * HOUR
        lam = _PEAK_RATE * _diurnal(hour % 24)
        if POLARIZED_WINDOW[0] <= start < POLARIZED_WINDOW[1]:
            lam *= 1 + _POLARIZED_BOOST
        out.extend(start + rng.randrange(HOUR) for _ in range(_poisson(rng, lam)))
    b0, b1 = BURST_WINDOW
    out.extend(int(rng.triangular(b0, b1, b0 + 900)) for _ in range(_BURST_EXTRA))
    return out


def _noise_offsets(rng: random.Random) -> list[int]:
    out: list[int] = []
    for hour in range(DAYS * 24):
        lam = _PEAK_RATE * _NOISE_RATE * _diurnal(hour % 24)
        out.extend(hour * HOUR + rng.randrange(HOUR) for _ in range(_poisson(rng, lam)))
    return out


# --- text assembly ------------------------------------------------------------------------------


class _Slots(dict):
    """Fills each `{slot}` with a fresh random choice, so one template yields many texts."""

    def __init__(self, rng: random.Random, table: dict[str, list[str]]):
        super().__init__()
        self._rng, self._table = rng, table

    def __missing__(self, key: str) -> str:
        return self._rng.choice(self._table[key])


def _fill(rng: random.Random, template: str, lang: str) -> str:
    text = template.format_map(_Slots(rng, _SLOTS_RU if lang == "ru" else _SLOTS_EN))
    return text[:1].upper() + text[1:]


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _fact(rng: random.Random, lang: str, phase: str, platform: str) -> str:
    if lang == "ru":
        pool = _FACTS_BURST_RU if phase == "burst" and rng.random() < 0.7 else _FACTS_RU
    elif phase == "burst" and rng.random() < 0.7:
        pool = _FACTS_BURST_EN
    elif phase == "polarized" and rng.random() < 0.5:
        pool = _FACTS_POLARIZED_EN
    elif platform in ("hackernews", "reddit") and rng.random() < 0.4:
        pool = _FACTS_TECH
    else:
        pool = _FACTS_EN
    return _fill(rng, rng.choice(pool), lang)


def _body(rng: random.Random, lang: str, klass: str, phase: str, platform: str) -> str:
    reactions = (_REACTIONS_RU if lang == "ru" else _REACTIONS_EN)[klass]
    parts = [_fact(rng, lang, phase, platform), rng.choice(reactions)]
    if rng.random() < 0.4:
        parts.reverse()
    if platform in ("reddit", "hackernews") and rng.random() < 0.6:
        parts.append(_fact(rng, lang, phase, platform))
    if klass.startswith("strong") and rng.random() < 0.3:
        parts.append(rng.choice([r for r in reactions if r not in parts]))
    return " ".join(p for p in parts if p)


def _hashtags(rng: random.Random, lang: str, platform: str) -> list[str]:
    """Story tags on most posts of hashtag platforms; a quarter rely on keywords alone."""
    if platform not in _HASHTAG_PLATFORMS or rng.random() < 0.25:
        return []
    if lang == "ru":
        return rng.sample(_RU_TAGS, rng.randint(1, 2))
    main_tag = rng.choices(STORY_HASHTAGS, weights=(5, 3, 2, 1))[0]
    if rng.random() < 0.12:
        main_tag = main_tag.lower()  # tag matching must be case-insensitive
    tags = [main_tag]
    for _ in range(rng.choice((0, 0, 1, 2))):
        extra = rng.choice(_NOISE_TAGS)
        if extra not in tags:
            tags.append(extra)
    return tags


def _with_tags(text: str, tags: Sequence[str]) -> str:
    return f"{text} {' '.join('#' + t for t in tags)}" if tags else text


def hashtags_in(text: str) -> list[str]:
    """Tags as written, in order, without duplicates: what a platform would index."""
    seen: dict[str, None] = {}
    for tag in HASHTAG_RE.findall(text):
        if not tag.isdigit():
            seen.setdefault(tag, None)
    return list(seen)


class _Authors:
    """A fixed pool of handles per platform, some far more active than others (Zipf-like)."""

    def __init__(self, rng: random.Random, size: int = 160):
        self._rng = rng
        self._pools = {
            p: [self._handle(p, i) for i in range(size)] for p in PLATFORMS if p != "news"
        }
        self._ru = [f"{n}_{rng.randint(10, 99)}" for n in _RU_NAMES for _ in range(3)]
        self._weights = [1 / (i + 1) ** 0.8 for i in range(size)]

    def _handle(self, platform: str, i: int) -> str:
        adj, noun = self._rng.choice(_ADJ), self._rng.choice(_NOUN)
        num = self._rng.randint(1, 9999)
        return {
            "x": f"{adj}_{noun}{num}",
            "mastodon": f"{adj}{noun}{i}",
            "bluesky": f"{adj}-{noun}{i}.bsky.social",
            "reddit": f"{adj.title()}-{noun.title()}-{num:04d}",
            "hackernews": f"{adj}{noun}{num % 100}",
        }[platform]

    def pick(self, platform: str, lang: str) -> str:
        if platform == "news":
            return self._rng.choice(_PUBLISHERS_RU if lang == "ru" else _PUBLISHERS_EN)
        if lang == "ru" and platform != "reddit":
            handle = self._rng.choice(self._ru)
            return f"{handle}.bsky.social" if platform == "bluesky" else handle
        return self._rng.choices(self._pools[platform], weights=self._weights)[0]


def _engagement(rng: random.Random, platform: str, phase: str) -> dict[str, int]:
    if platform == "news":
        return {"likes": 0, "reposts": 0, "replies": 0}  # feeds carry no counts for articles
    scale = {"x": 2.2, "bluesky": 1.6, "mastodon": 1.2, "reddit": 2.6, "hackernews": 1.4}[platform]
    if phase in ("burst", "polarized"):
        scale += 0.7
    likes = int(rng.lognormvariate(scale, 1.3))
    return {
        "likes": likes,
        "reposts": int(likes * rng.uniform(0.05, 0.4)),
        "replies": int(likes * rng.uniform(0.02, 0.25)),
    }


def _record(
    offset: int,
    platform: str,
    author: str,
    text: str,
    lang: str,
    engagement: dict[str, int],
    title: str | None = None,
) -> dict[str, Any]:
    return {
        "id": None,
        "offset_s": offset,
        "platform": platform,
        "author": author,
        "text": text,
        "lang": lang,
        "hashtags": hashtags_in(text),
        "engagement": engagement,
        "title": title,
        "reply_to": None,
        "repost_of": None,
    }


def _topic_post(rng: random.Random, authors: _Authors, offset: int) -> dict[str, Any]:
    phase = _phase(offset)
    platform = _pick(rng, _BURST_MIX if phase == "burst" else _PLATFORM_MIX)
    lang = "ru" if rng.random() < _RU_SHARE[platform] else "en"
    author = authors.pick(platform, lang)
    if platform == "news":
        return _news_post(rng, offset, author, lang, phase)
    klass = rng.choices(_CLASSES, weights=_MOOD[phase])[0]
    eng = _engagement(rng, platform, phase)
    text = _with_tags(_body(rng, lang, klass, phase, platform), _hashtags(rng, lang, platform))
    title = _reddit_title(rng, klass, lang) if platform == "reddit" else None
    return _record(offset, platform, author, text, lang, eng, title)


def _reddit_title(rng: random.Random, klass: str, lang: str) -> str:
    if lang == "ru":
        return _fill(rng, rng.choice(_HEADLINES_RU), "ru")
    if klass in ("strong_pos", "strong_neg") and rng.random() < 0.5:
        return rng.choice(_REDDIT_TITLES["pos" if klass == "strong_pos" else "neg"])
    return rng.choice(_REDDIT_TITLES["neutral"])


def _news_post(
    rng: random.Random, offset: int, publisher: str, lang: str, phase: str
) -> dict[str, Any]:
    if lang == "ru":
        headline = _fill(rng, rng.choice(_HEADLINES_RU), "ru")
    else:
        key = phase if phase in ("burst", "polarized") and rng.random() < 0.7 else "base"
        headline = _fill(rng, rng.choice(_HEADLINES_EN[key]), "en")
    lede = _fact(rng, lang, phase, "news")
    eng = _engagement(rng, "news", phase)
    return _record(offset, "news", publisher, lede, lang, eng, f"{headline} - {publisher}")


def _noise_post(rng: random.Random, authors: _Authors, offset: int) -> dict[str, Any]:
    platform = _pick(rng, _PLATFORM_MIX)
    lang = "ru" if platform in ("x", "bluesky") and rng.random() < 0.1 else "en"
    text = rng.choice(_NOISE_RU if lang == "ru" else _NOISE_EN)
    title = None
    if platform == "news":
        lang, publisher = "en", rng.choice(_PUBLISHERS_EN)
        title, text = f"{rng.choice(_NOISE_TITLES)} - {publisher}", "Full story on our website."
        return _record(
            offset, platform, publisher, text, lang, _engagement(rng, platform, "quiet"), title
        )
    if platform == "reddit":
        title = rng.choice(_NOISE_TITLES)
    if platform not in _HASHTAG_PLATFORMS:
        text = HASHTAG_RE.sub("", text).strip()
    eng = _engagement(rng, platform, "quiet")
    return _record(offset, platform, authors.pick(platform, lang), text, lang, eng, title)


# --- hostile posts ------------------------------------------------------------------------------


def _rant() -> str:
    """Over 5,000 characters of all-caps fury plus one unbreakable token, for wrapping and caps."""
    lines = [
        "I am SO tired of this. Sanctions were supposed to MEAN something!!!",
        "Trump and Putin talk business while people suffer, and nobody asks who pays.",
        "Dmitriev smiles for the cameras, the markets cheer, and we are told to be grateful?!",
        "No. NO. This is wrong and everyone knows it is wrong.",
    ]
    parts: list[str] = []
    i = 0
    while sum(len(p) + 1 for p in parts) < 5000:
        parts.append(lines[i % len(lines)])
        i += 1
        if i == 20:
            parts.append("https://example.com/" + "a" * 300)
    return " ".join(parts)


def _hostile_posts(rng: random.Random) -> list[dict[str, Any]]:
    def rec(offset: int, platform: str, text: str, author: str = "", title: str | None = None):
        return _record(
            offset,
            platform,
            author or f"tester{offset % 97}",
            text,
            "en",
            _engagement(rng, "x" if platform == "news" else platform, "quiet"),
            title,
        )

    return [
        rec(
            5400,
            "x",
            "[bold red]BREAKING[/] Trump and Putin agree to talk business #TrumpPutinBusiness",
        ),
        rec(
            30000,
            "bluesky",
            "Markup trap: a [/ b [/] [link=https://evil.example]click here[/link] "
            "the Putin deal is odd #TrumpPutin",
            author="markup-tester.bsky.social",
        ),
        rec(
            52000,
            "mastodon",
            "\x1b]0;pwned\x07Sanctions relief? Check your terminal title. #RussiaSanctions",
            author="osctester",
        ),
        rec(
            70000,
            "x",
            "\u202eesuoh etihw\u202c the Trump-Putin business deal reads better backwards "
            "#TrumpPutinBusiness",
        ),
        rec(
            100000,
            "reddit",
            _rant(),
            author="Angry-Walrus-0001",
            title="A long rant about the Putin sanctions deal (sorry)",
        ),
        rec(
            141000,
            "mastodon",
            "<script>alert('pwned')</script> <b>Trump</b> &amp; Putin & co: "
            "HTML in a plain-text post #TrumpPutinBusiness",
            author="htmltester",
        ),
        rec(
            150000,
            "news",
            "Markets react to the Trump-Putin summit news.",
            author="Capital Wire",
            title="[red]Markets[/red] swing as Trump-Putin summit nears - Capital Wire",
        ),
        rec(
            205000,
            "hackernews",
            "Zero\u200bwidth, NUL\x00 and C1\x9b31m controls in a comment about Putin "
            "and sanctions",
        ),
        rec(
            230000,
            "x",
            "Dmitriev fund 🚀🚀🚀 \x1b[31mRED\x1b[0m \x1b[2J #Dmitriev",
            author="[blink]troll[/blink]",
        ),
    ]


# --- reposts, ids, assembly ---------------------------------------------------------------------


def _reposts(
    rng: random.Random, authors: _Authors, posts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A few boosts/retweets of earlier posts. A Mastodon boost has no text or tags of its own."""
    candidates = [
        p for p in posts if p["platform"] in ("mastodon", "x") and p["offset_s"] < SPAN_S - HOUR
    ]
    out = []
    for orig in rng.sample(candidates, _REPOSTS):
        offset = min(SPAN_S - 1, orig["offset_s"] + rng.randint(60, 6 * HOUR))
        platform = orig["platform"]
        text = "" if platform == "mastodon" else f"RT @{orig['author']}: {orig['text']}"
        rec = _record(
            offset,
            platform,
            authors.pick(platform, orig["lang"]),
            text,
            orig["lang"],
            {"likes": 0, "reposts": 0, "replies": 0},
        )
        rec["repost_of"] = orig
        out.append(rec)
    return out


def generate(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The whole corpus as plain records, oldest first; ids `p000000`... follow time order."""
    rng = random.Random(seed)
    authors = _Authors(rng)
    posts = [_topic_post(rng, authors, off) for off in _topic_offsets(rng)]
    posts += [_noise_post(rng, authors, off) for off in _noise_offsets(rng)]
    posts += _hostile_posts(rng)
    posts += _reposts(rng, authors, posts)
    order = sorted(range(len(posts)), key=lambda i: (posts[i]["offset_s"], i))
    posts = [posts[i] for i in order]
    for n, rec in enumerate(posts):
        rec["id"] = f"p{n:06d}"
    for rec in posts:
        if rec["repost_of"] is not None:
            rec["repost_of"] = rec["repost_of"]["id"]
    return posts


# --- CLI ----------------------------------------------------------------------------------------


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    hourly = Counter(r["offset_s"] // HOUR for r in records)
    counts = sorted(hourly.get(h, 0) for h in range(DAYS * 24))
    return {
        "posts": len(records),
        "per_platform": dict(Counter(r["platform"] for r in records).most_common()),
        "russian_share": round(sum(r["lang"] == "ru" for r in records) / len(records), 4),
        "reposts": sum(r["repost_of"] is not None for r in records),
        "median_hourly": counts[len(counts) // 2],
        "peak_hourly": counts[-1],
        "burst_window_s": BURST_WINDOW,
        "polarized_window_s": POLARIZED_WINDOW,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.simulator.corpus", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "data" / _DATA_FILE)
    args = parser.parse_args(argv)
    records = generate(args.seed)
    data = dump_records(records)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    print(json.dumps(summarize(records), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
