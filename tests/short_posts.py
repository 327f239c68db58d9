"""Short posts for the language-routing tests: generated English, written posts in other languages.

The English posts are generated, not listed, so that no rule can be tuned to a fixed list: one to six
words of everyday social English with slang, typos, shouting, repeated words, a hashtag or two and
emoticons, the kind of post a language model misreads (metrics.md §1). The other-language posts are
written as people post them: short, often without accents, with their own slang.
"""

from __future__ import annotations

import random

# words people react with; many are in VADER's lexicon, some are not
FEELINGS = [
    "love",
    "hate",
    "great",
    "awesome",
    "terrible",
    "amazing",
    "annoyed",
    "bored",
    "tired",
    "excited",
    "happy",
    "sad",
    "angry",
    "mad",
    "pissed",
    "scared",
    "nervous",
    "proud",
    "upset",
    "sick",
    "gross",
    "nice",
    "cool",
    "epic",
    "awful",
    "horrible",
    "perfect",
    "beautiful",
    "ugly",
    "stupid",
    "brilliant",
    "disappointed",
    "thrilled",
    "furious",
    "lonely",
    "blessed",
    "sorry",
    "worried",
    "relieved",
    "hilarious",
    "boring",
    "fun",
    "lucky",
    "fail",
    "win",
    "wrong",
    "fine",
    "ok",
    "weird",
    "lame",
]
CURSES = [
    "damn",
    "damnit",
    "dammit",
    "bloody hell",
    "hell yeah",
    "hell no",
    "ffs",
    "wtf",
    "omg",
    "ugh",
    "meh",
    "yay",
    "whoa",
    "yikes",
    "oops",
    "sigh",
    "argh",
    "ew",
    "woohoo",
    "hooray",
]
SLANG = [
    "lol",
    "lmao",
    "rofl",
    "smh",
    "tbh",
    "ngl",
    "fr",
    "bruh",
    "af",
    "imo",
    "idk",
    "lowkey",
    "srsly",
    "yall",
    "gonna",
    "wanna",
    "sooo",
    "soooo",
    "kinda",
    "sucks",
    "rocks",
    "fml",
    "jk",
    "lmfao",
    "omfg",
]
NOUNS = [
    "monday",
    "mondays",
    "traffic",
    "coffee",
    "weather",
    "rain",
    "snow",
    "exams",
    "homework",
    "work",
    "the game",
    "this game",
    "the movie",
    "this song",
    "the finale",
    "my phone",
    "the update",
    "the new album",
    "the refs",
    "my boss",
    "this show",
    "the bus",
    "my team",
    "the traffic",
    "pizza",
    "the weekend",
    "Joomla",
    "Windows",
    "Luther",
    "the Cowboys",
    "the Lakers",
    "iPhone",
    "Netflix",
    "the concert",
    "airport",
    "my flight",
    "the wifi",
    "school",
    "the dentist",
    "this week",
    "today",
    "tonight",
    "life",
    "people",
]
OPENERS = [
    "so",
    "oh",
    "oh man",
    "i",
    "im",
    "i'm",
    "my",
    "this",
    "that",
    "the",
    "just",
    "really",
    "too",
    "not",
    "no",
    "very",
    "what a",
    "such a",
    "best",
    "worst",
    "feeling",
    "totally",
    "pretty",
    "super",
    "still",
]
VERBS = [
    "love",
    "hate",
    "miss",
    "need",
    "want",
    "can't stand",
    "cant wait for",
    "enjoy",
    "adore",
    "dread",
    "loved",
    "hated",
    "missed",
    "regret",
    "like",
    "dislike",
    "blame",
    "thank",
    "trust",
    "fear",
]
HASHTAGS = [
    "#fail",
    "#win",
    "#luther",
    "#Cowboys",
    "#MondayMotivation",
    "#blessed",
    "#nofilter",
    "#tbt",
    "#NotHappy",
    "#FML",
    "#SoTired",
    "#GameDay",
    "#epicfail",
    "#love",
    "#ugh",
    "#news",
    "#GoHawks",
]
EMOTICONS = [
    ":)",
    ":(",
    ":D",
    ";)",
    ":P",
    "<3",
    ":'(",
    ":-)",
    ":-(",
    "xD",
    "XD",
    ":/",
    ":|",
    ":-D",
    "</3",
]
EMOJI = ["😂", "😭", "😡", "🔥", "❤️", "👍", "👎", "🙄", "😍", "💀", "😊", "😢", "🤬", "🥳", "💔"]
PRONOUNS = ["i", "we", "u", "you", "they", "he", "she", "my mom", "my dad", "everyone", "nobody"]
EXTRA = ["so", "really", "very", "sooo", "totally", "super", "kinda", "just", "too", "not"]


def _typo(rng: random.Random, word: str) -> str:
    """A slip of the thumb: a letter dropped, doubled or swapped with its neighbour."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def _core(rng: random.Random) -> list[str]:
    form = rng.randrange(10)
    if form == 0:
        words = [rng.choice(OPENERS), rng.choice(FEELINGS)]
    elif form == 1:
        words = [rng.choice(PRONOUNS), rng.choice(VERBS), rng.choice(NOUNS)]
    elif form == 2:
        words = [
            rng.choice(NOUNS),
            rng.choice(["is", "was", "are", "so", "is so", "=", "sucks", "rocks"]),
            rng.choice(FEELINGS),
        ]
    elif form == 3:
        words = [rng.choice(CURSES)]
    elif form == 4:
        words = [rng.choice(CURSES), rng.choice(NOUNS)]
    elif form == 5:
        words = [rng.choice(FEELINGS)]
    elif form == 6:
        words = [rng.choice(EXTRA), rng.choice(FEELINGS)]
    elif form == 7:
        words = [rng.choice(PRONOUNS), rng.choice(VERBS), "it"]
    elif form == 8:
        words = [
            rng.choice(FEELINGS),
            rng.choice(["day", "night", "game", "news", "weekend", "times", "idea"]),
        ]
    else:
        words = ["i", rng.choice(["am", "feel", "m", "'m so", "was"]), rng.choice(FEELINGS)]
    return " ".join(words).split()


def english_short_posts(n: int, seed: int = 15) -> list[str]:
    """`n` short English posts (one to six words, not counting hashtags and emoticons), the same every run."""
    rng = random.Random(seed)
    posts: list[str] = []
    while len(posts) < n:
        words = _core(rng)
        if rng.random() < 0.3:
            slang = rng.choice(SLANG)
            words = [slang, *words] if rng.random() < 0.5 else [*words, slang]
        if rng.random() < 0.15 and len(words) <= 3:  # repeated words: "damn damn damn"
            words = [words[0]] * rng.randint(2, 4) + words[1:]
        if rng.random() < 0.15:
            i = rng.randrange(len(words))
            words[i] = _typo(rng, words[i])
        if not 1 <= len(words) <= 6:
            continue
        if rng.random() < 0.12:
            words = [w.upper() for w in words]
        elif rng.random() < 0.1:
            i = rng.randrange(len(words))
            words[i] = words[i].upper()
        elif rng.random() < 0.3:
            words[0] = words[0][:1].upper() + words[0][1:]
        text = " ".join(words)
        if rng.random() < 0.2:
            text += rng.choice(["!", "!!", "!!!", "?", "...", ".", "?!"])
        for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
            text += " " + rng.choice(HASHTAGS)
        if rng.random() < 0.25:
            text += " " + rng.choice(EMOTICONS)
        elif rng.random() < 0.15:
            text += " " + rng.choice(EMOJI) * rng.randint(1, 3)
        if rng.random() < 0.1:
            text = "@" + rng.choice(["anonymous", "united", "jess_22", "BBCNews"]) + " " + text
        posts.append(text)
    return posts


# VADER's own example sentences (vaderSentiment's README and demo)
VADER_SENTENCES = [
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
    "It was one of the worst movies I've seen, despite good reviews.",
    "Unbelievably bad acting!!",
    "Poor direction.",
    "VERY poor production.",
    "The movie was bad.",
    "Very bad movie.",
    "VERY BAD movie!",
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

# The issue's own examples: English tweets that were once sent to the unscored bin.
MISROUTED_ENGLISH = [
    "So annoyed",
    "damnit",
    "Bloody hell #luther",
    "Damn damn damn damn #Cowboys",
    "I hate Joomla",
    "@anonymous Oh man! I love 'em!",
]

# Short posts as written in eight other Latin-script languages.
OTHER_LANGUAGES: dict[str, list[str]] = {
    "es": [
        "Qué asco de partido",
        "No me lo puedo creer",
        "Me encanta esta canción",
        "Muy bien hecho",
        "Que lindo día",
        "Estoy harto de todo",
        "jajaja qué risa",
        "Vaya mierda de arbitraje",
        "Por fin es viernes",
        "Tengo mucho sueño",
        "Esto es una vergüenza",
        "Buenísimo el capítulo de hoy",
        "Odio los lunes",
        "Qué ganas de vacaciones",
        "No puedo más con el calor",
        "Gracias a todos por venir",
        "Me duele la cabeza",
        "Vamos Real Madrid!!",
        "Estoy muy contento",
        "Nadie se lo esperaba",
        "Increíble lo que ha pasado",
        "La verdad es que me da igual",
        "Que pena me da",
        "Feliz cumpleaños amiga",
        "Ya no aguanto más",
        "Lo mejor del año",
        "Se me olvidó el paraguas",
        "Menudo desastre de gobierno",
        "Todo mal hoy",
        "Estoy hasta las narices",
        "Qué frío hace",
        "Te quiero mucho",
    ],
    "it": [
        "Che schifo",
        "Non ci posso credere",
        "Che bella giornata",
        "Sono stanchissimo",
        "Forza Roma!",
        "Mi manchi tanto",
        "Ma che cavolo",
        "Oggi piove di nuovo",
        "Buongiorno a tutti",
        "Che noia questa partita",
        "Sono così felice",
        "Non vedo l'ora",
        "Grazie mille ragazzi",
        "Che figata",
        "Basta con questo caldo",
        "Ho fame",
        "Buon compleanno amore",
        "Che vergogna",
        "Finalmente venerdì",
        "Troppo bello questo film",
        "Non ne posso più",
        "Adoro questa canzone",
        "Che tristezza",
        "Speriamo bene",
        "Tutto a posto",
        "Ma dai, davvero?",
        "Odio il lunedì",
        "Sono arrabbiatissimo",
        "Che casino oggi in ufficio",
        "Bellissimo concerto ieri sera",
    ],
    "de": [
        "Super Spiel heute",
        "Ich kann nicht mehr",
        "Was für ein Mist",
        "So ein schöner Tag",
        "Total genial",
        "Endlich Wochenende",
        "Schon wieder Regen",
        "Ich hasse Montage",
        "Das war echt peinlich",
        "Mega geil das Konzert",
        "Bin so müde",
        "Alles Gute zum Geburtstag",
        "Danke für alles",
        "Was ist denn hier los",
        "Unglaublich schlecht gespielt",
        "Hab keinen Bock mehr",
        "Voll langweilig",
        "Wie geil ist das denn",
        "Gute Nacht zusammen",
        "Frohe Weihnachten euch allen",
        "Der Zug hat wieder Verspätung",
        "Einfach nur traurig",
        "Ich freue mich so",
        "Geht gar nicht",
        "Heute keine Lust auf nichts",
        "Wahnsinn, was für ein Tor",
        "Mir ist langweilig",
        "Schade eigentlich",
        "Läuft bei mir",
        "Die Bahn nervt",
    ],
    "pt": [
        "Que saudade",
        "Não acredito nisso",
        "Que dia lindo",
        "Estou muito cansado",
        "kkkkkk morri",
        "Bom dia gente",
        "Que vergonha",
        "Odeio segunda-feira",
        "Vai Corinthians!",
        "Tô com fome",
        "Que jogo horrível",
        "Amo essa música",
        "Finalmente sexta",
        "Nossa que calor",
        "Obrigado a todos",
        "Parabéns pra você",
        "To morrendo de sono",
        "Que raiva",
        "Não aguento mais",
        "Muito bom esse filme",
        "Que tristeza",
        "Tudo de bom",
        "Valeu galera",
        "Que chato",
        "Saudades de você",
        "Hoje não estou bem",
        "Que golaço",
        "Essa série é incrível",
        "Boa noite pessoal",
        "Tá chovendo de novo",
    ],
    "pl": [
        "Nie wierzę",
        "Ale super dzień",
        "Mam dość",
        "Kocham cię",
        "Co za porażka",
        "Dzięki wszystkim",
        "Jestem zmęczony",
        "Wszystkiego najlepszego",
        "Dobranoc",
        "Znowu pada",
        "Ale nuda",
        "Jest pięknie",
        "Nienawidzę poniedziałków",
        "Brawo chłopaki",
        "Szkoda gadać",
        "Co za mecz",
        "Dzień dobry wszystkim",
        "Nie mogę się doczekać",
        "Ale jazda",
        "Jestem taki szczęśliwy",
        "To jest żenujące",
        "Masakra jakaś",
        "Smutno mi",
        "Wreszcie weekend",
        "Zajebisty koncert",
        "No i po wakacjach",
        "Mam nadzieję że wygramy",
        "Totalna kompromitacja",
        "Cudowny wieczór",
        "Głodny jestem",
    ],
    "nl": [
        "Wat een mooie dag",
        "Ik ben zo moe",
        "Geweldig concert",
        "Balen",
        "Eindelijk weekend",
        "Wat een slechte wedstrijd",
        "Dank je wel",
        "Ik haat maandagen",
        "Gefeliciteerd!",
        "Lekker weertje",
        "Wat een gedoe",
        "Heel erg bedankt",
        "Ik kan niet wachten",
        "Wat jammer",
        "Slaap lekker",
        "Hup Holland hup",
        "Wat een onzin",
        "Ik ben blij",
        "Het regent alweer",
        "Super leuk gedaan",
        "Wat een grap",
        "Echt niet normaal",
        "Zo trots op jullie",
        "Vreselijk nieuws",
        "Goedemorgen allemaal",
        "Ik baal ervan",
        "Wat een sfeer",
        "Heerlijk dagje strand",
        "Dit is echt te gek",
        "Niet te geloven",
    ],
    "fr": [
        "Trop bien",
        "Je suis crevé",
        "Quelle honte",
        "C'est génial",
        "J'adore cette chanson",
        "Vivement le week-end",
        "Bonne journée à tous",
        "Quel match de merde",
        "Ça me saoule",
        "Trop mignon",
        "Je n'en peux plus",
        "Merci beaucoup",
        "Allez les Bleus",
        "Quelle belle soirée",
        "J'ai trop faim",
        "Encore de la pluie",
        "Bon anniversaire ma belle",
        "Nul à chier",
        "Je suis tellement content",
        "C'est n'importe quoi",
        "Magnifique",
        "Quel dommage",
        "Bonne nuit",
        "Je déteste les lundis",
        "Ça fait plaisir",
        "Franchement décevant",
        "Enfin vendredi",
        "Bravo les gars",
        "Grave déçu",
        "Mdr trop drôle",
    ],
    "tr": [
        "Çok güzel",
        "Bugün çok yorgunum",
        "Harika bir maç",
        "Ne rezalet",
        "Seni seviyorum",
        "İyi geceler",
        "Çok sıkıldım",
        "Günaydın herkese",
        "Bayramınız kutlu olsun",
        "Helal olsun",
        "Berbat bir gün",
        "Yine yağmur yağıyor",
        "Teşekkürler arkadaşlar",
        "Nefret ediyorum",
        "Çok mutluyum",
        "Olamaz ya",
        "Mükemmel bir konser",
        "Hadi bakalım",
        "Yazık çok yazık",
        "Doğum günün kutlu olsun",
        "Canım sıkılıyor",
        "Ne kadar güzel",
        "Haftasonu nihayet",
        "Çok komik",
        "Bu ne ya",
        "Maç çok kötüydü",
        "Allah kahretsin",
        "Aşkım seni özledim",
        "Harikasın",
        "İnanamıyorum",
    ],
}

# Posts with no words, only emoji, emoticons, mentions, links and hashtags, with the sign a reader reads.
WORDLESS: list[tuple[str, int]] = [
    ("😂😂😂", 1),
    ("🔥🔥🔥😡😡", -1),
    ("@anonymous :) :) :)", 1),
    ("😭😭", -1),
    ("❤️❤️", 1),
    ("😍", 1),
    (":(", -1),
    (":D", 1),
    ("<3 <3", 1),
    ("😊 https://t.co/x1", 1),
    ("@someone 😢", -1),
    (":'(", -1),
    ("🥳🥳", 1),
    (":-)", 1),
    ("</3", -1),
    ("#NotHappy", -1),
    ("#love #blessed 😊", 1),
    ("#fail :(", -1),
]
# Emoji whose description has no word in VADER's lexicon ("pouting face", "thumbs up") or a misleading one
# ("broken heart" reads "heart"): VADER's reading is kept, as stock vaderSentiment gives it.
VADER_MISREADS: list[tuple[str, float]] = [
    ("😡", 0.0),
    ("👍", 0.0),
    ("👎👎", 0.0),
    ("🤬🤬🤬", 0.0),
    ("💔", 0.2732),
]
