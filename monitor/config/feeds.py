"""feeds.yaml -> validated models, and problems that name file, line and column.

The config is written by hand, usually by someone who is not reading this code, so the loader's
real product is its error report: every problem in one run, each as `PATH:LINE:COLUMN: message`
pointing at the offending key or value, with a did-you-mean where a typo is likely, and never a
traceback. Validation itself is pydantic; this module composes the YAML once to learn where each
key and value sits, then translates pydantic's `loc` tuples back into those positions.

Secrets never live in the file: a source names the environment variable that holds its key
(fields ending in `_env`), and nothing here ever reads or prints a variable's value beyond
checking that it is set.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    StringConstraints,
    ValidationError,
    model_validator,
)

from monitor import sources as _sources
from monitor.config.digests import AlertsConfig, Digest
from monitor.core.durations import format_duration, parse_duration
from monitor.sources.base import SourceSettings

__all__ = [
    "Config",
    "ConfigError",
    "Problem",
    "Topic",
    "check_config",
    "default_config_path",
    "load_config",
    "secret_problems",
]

DEFAULT_CONFIG_NAME = "feeds.yaml"
CONFIG_ENV = "MONITOR_CONFIG"
DB_URL_ENV = "MONITOR_DB_URL"

Loc = tuple[str | int, ...]


# --- problems ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, placed where an editor can jump to it.

    Errors print exactly as `path:line:column: message` (1-based), the format compilers use, so
    editors and CI annotate the line. Warnings insert `warning: ` before the message, as compilers
    do, so a reader can tell what blocks a run from what merely looks wrong.
    """

    path: str
    line: int
    column: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}:{self.column}: {label}{self.message}"


class ConfigError(Exception):
    """Raised by load_config with every problem found, so one fix-and-retry cycle fixes them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --- topics -----------------------------------------------------------------------------------

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_LANGUAGE = re.compile(r"[a-z]{2}")
_JOINERS = {"_", "\u00b7", "\u200c", "\u200d"}  # underscore, middle dot, ZWNJ/ZWJ (Persian, Indic)


def _is_tag_char(ch: str) -> bool:
    # Combining marks are part of words in many scripts (Hindi vowel signs) but not isalnum().
    return ch.isalnum() or ch in _JOINERS or unicodedata.category(ch).startswith("M")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid topic name: use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. trump-putin-business)"
        )
    return value


def _hashtag(value: str) -> str:
    """'#TrumpPutin' and 'TrumpPutin' are the same tag; a space means the author wanted a phrase."""
    tag = unicodedata.normalize("NFC", value.strip())
    tag = tag[1:] if tag[:1] in ("#", "\uff03") else tag
    if not tag or not all(_is_tag_char(ch) for ch in tag):
        raise ValueError(
            f"{value!r} is not a hashtag: after the '#' use only letters, digits and '_' "
            "(put phrases under 'keywords')"
        )
    return tag


def _keyword(value: str) -> str:
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if not text:
        raise ValueError("empty keyword")
    return text


def _exclusion(value: str) -> str:
    """An exclusion is a hashtag when written with '#', otherwise a keyword."""
    if value.strip()[:1] in ("#", "\uff03"):
        return "#" + _hashtag(value)
    return _keyword(value)


def _language(value: str) -> str:
    code = value.strip().lower()
    if not _LANGUAGE.fullmatch(code):
        raise ValueError(
            f"{value!r} is not an ISO 639-1 language code (two letters such as en or ru)"
        )
    return code


def _unique(items: list[str]) -> list[str]:
    """Repeats are harmless but would double-count nothing and clutter displays: keep the first."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _non_empty_languages(items: list[str]) -> list[str]:
    if not items:
        raise ValueError("empty list; leave 'languages' out to keep posts in every language")
    return _unique(items)


def _title(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


Hashtag = Annotated[str, AfterValidator(_hashtag)]
Keyword = Annotated[str, AfterValidator(_keyword)]
Exclusion = Annotated[str, AfterValidator(_exclusion)]
Language = Annotated[str, AfterValidator(_language)]


class Topic(BaseModel):
    """What to look for: the story as hashtags and keywords, minus what would pollute it.

    `hashtags` keep the case the user wrote (for display, without '#'); matching uses `tags`,
    which are NFC-normalized and casefolded because platforms treat #TrumpPutin and #trumpputin
    as one tag.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, AfterValidator(_slug)]
    title: Annotated[str | None, AfterValidator(_title)] = None
    hashtags: Annotated[list[Hashtag], AfterValidator(_unique)] = []
    keywords: Annotated[list[Keyword], AfterValidator(_unique)] = []
    exclude: Annotated[list[Exclusion], AfterValidator(_unique)] = []
    languages: Annotated[list[Language], AfterValidator(_non_empty_languages)] | None = None

    @model_validator(mode="after")
    def _has_terms(self) -> Topic:
        if not self.hashtags and not self.keywords:
            raise ValueError("needs at least one entry under 'hashtags' or 'keywords'")
        return self

    @cached_property
    def tags(self) -> list[str]:
        return _unique([tag.casefold() for tag in self.hashtags])

    @cached_property
    def exclude_tags(self) -> list[str]:
        """Casefolded, '#'-less hashtags that veto a match."""
        return [e[1:].casefold() for e in self.exclude if e.startswith("#")]

    @cached_property
    def exclude_keywords(self) -> list[str]:
        """Phrases that veto a match, as written (the matcher decides on case)."""
        return [e for e in self.exclude if not e.startswith("#")]

    @property
    def display_name(self) -> str:
        return self.title or self.name


# --- the document -----------------------------------------------------------------------------

_DB_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9_]*(?:\+[A-Za-z0-9_]+)?)://\S*")
_DB_URL_PASSWORD = re.compile(r"^[^:/]+://[^/@:]*:[^/@]+@")
_SQLITE_RELATIVE = re.compile(r"(?P<scheme>sqlite(?:\+[A-Za-z0-9_]+)?):///(?P<rest>.*)", re.DOTALL)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_db_url(value: str | None) -> str | None:
    """Never echoes the value: a database URL may carry a password."""
    if value is None:
        return None
    url = value.strip()
    match = _DB_URL.fullmatch(url)
    if not match:
        raise ValueError(
            "not a database URL (expected e.g. sqlite:///storage/monitor.db or "
            "postgresql+psycopg://user@host/dbname)"
        )
    scheme = match["scheme"]
    if (
        scheme.startswith("sqlite")
        and url != f"{scheme}://"
        and not url.startswith(f"{scheme}:///")
    ):
        raise ValueError(
            "a SQLite URL needs three slashes before a relative path "
            "(sqlite:///storage/monitor.db) and four before an absolute one"
        )
    return url


class _Sections(BaseModel):
    """The sections the file as written and the `Config` built from it read alike."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: Annotated[str | None, AfterValidator(_check_db_url)] = None
    topics: list[Topic] = Field(min_length=1)
    digests: list[Digest] = []
    alerts: AlertsConfig = AlertsConfig()


class _Document(_Sections):
    """The sections of feeds.yaml as written.

    A new top-level section (digests:, alerts:) is one field here (or in `_Sections`) with its own
    model; unknown-key suggestions, positions and messages follow from the field without further
    code. `sources` stays raw here because each source is validated on its own against its kind's
    model, and `storage_dir` is the text written, resolved to a path for `Config`.
    """

    storage_dir: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = "storage"
    sources: list[Any] = []


class Config(_Sections):
    """A validated feeds.yaml: what the rest of the program reads instead of the file."""

    path: Path
    storage_dir: Path  # absolute
    sources: list[SerializeAsAny[SourceSettings]] = []

    # Where each key sat in the file, so problems found later (unset secrets) can point at it.
    _display: str = PrivateAttr("")
    _locator: _Locator | None = PrivateAttr(None)

    def topic(self, name: str) -> Topic:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(
            f"no topic named {name!r}{_did_you_mean(name, [t.name for t in self.topics])}"
        )

    def source(self, name: str) -> SourceSettings:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(
            f"no source named {name!r}{_did_you_mean(name, [s.name for s in self.sources])}"
        )

    def digest(self, name: str) -> Digest:
        for digest in self.digests:
            if digest.name == name:
                return digest
        raise KeyError(
            f"no digest named {name!r}{_did_you_mean(name, [d.name for d in self.digests])}"
        )

    def digest_topics(self, digest: Digest) -> list[Topic]:
        """The topics a digest covers, in config order; `topics:` left out means all of them."""
        wanted = set(digest.topics) if digest.topics is not None else None
        return [t for t in self.topics if wanted is None or t.name in wanted]

    def digest_folder(self, digest: Digest) -> Path:
        """Where a digest's files go: its `folder` (relative to this file's folder) or <storage_dir>/digests."""
        if digest.folder is None:
            return self.storage_dir / "digests"
        folder = Path(digest.folder).expanduser()
        return folder if folder.is_absolute() else Path(os.path.normpath(self.path.parent / folder))

    def topics_for(self, source: SourceSettings) -> list[Topic]:
        """The topics a source feeds, in config order; `topics:` left out means all of them."""
        if source.topics is None:
            return list(self.topics)
        wanted = set(source.topics)
        return [topic for topic in self.topics if topic.name in wanted]

    def store_url(self, env: Mapping[str, str] = os.environ) -> str:
        """MONITOR_DB_URL wins (deployments set it), then `store:`, then SQLite in storage_dir.

        A relative SQLite path in `store:` is taken from the config file's folder, like
        `storage_dir`, so the store does not move with the working directory. MONITOR_DB_URL is
        used exactly as given: it comes from the shell, where the working directory is meant.
        """
        override = env.get(DB_URL_ENV, "").strip()
        if override:
            return override
        if self.store:
            return _anchor_sqlite(self.store, self.path.parent)
        return f"sqlite:///{(self.storage_dir / 'monitor.db').as_posix()}"


def _anchor_sqlite(url: str, base: Path) -> str:
    match = _SQLITE_RELATIVE.fullmatch(url)
    if not match:
        return url
    rest = match["rest"]
    file_part, sep, query = rest.partition("?")
    if (
        not file_part
        or file_part.startswith(("/", ":memory:", "file:"))
        or re.match(r"[A-Za-z]:", file_part)
    ):
        return url
    anchored = Path(os.path.normpath(base / file_part)).as_posix()
    return f"{match['scheme']}:///{anchored}{sep}{query}"


# --- public entry points ----------------------------------------------------------------------


def default_config_path(env: Mapping[str, str] = os.environ) -> Path:
    chosen = env.get(CONFIG_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else Path(DEFAULT_CONFIG_NAME)


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    check_secrets: bool = False,
) -> Config:
    """Load and validate; raise ConfigError listing every problem (warnings included) on any error.

    Secrets are checked only on request: `monitor dashboard` reads the config but needs no keys,
    while `monitor run` does.
    """
    config, problems = _analyse(path, env, check_secrets=check_secrets)
    if config is None or any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    return config


POLITE_MINIMUM: dict[str, tuple[timedelta, str]] = {
    # What each platform documents (/work/shared/docs/sources.md), as the shortest interval that
    # stays well inside it for one collector; streaming and local sources have none.
    "google-news": (
        timedelta(minutes=5),
        "Google News allows (no documented limit; it throttles and "
        "shows CAPTCHAs to heavy pollers)",
    ),
    "rss": (
        timedelta(minutes=5),
        "a feed server expects (feeds rarely change faster; servers block "
        "clients that poll more often)",
    ),
    "mastodon": (
        timedelta(seconds=30),
        "Mastodon allows for paged timelines (300 requests / 15 min per IP)",
    ),
    "reddit": (
        timedelta(minutes=1),
        "Reddit allows (100 queries / min with OAuth, 10 without, averaged over 10 min)",
    ),
    "x": (
        timedelta(minutes=1),
        "X allows on a pay-per-use plan (450 requests / 15 min per app, and every request costs)",
    ),
    "bluesky": (
        timedelta(seconds=30),
        "Bluesky allows (3,000 requests / 5 min per IP, 30 logins / 5 min)",
    ),
    "hackernews": (
        timedelta(seconds=30),
        "Hacker News search allows (10,000 requests / hour per IP)",
    ),
}


def polite_minimum(kind: str, url: str = "") -> tuple[timedelta, str] | None:
    """(shortest polite interval, why) for a source kind; Google News is told apart by its URL."""
    if kind == "rss" and "news.google.com" in url:
        return POLITE_MINIMUM["google-news"]
    return POLITE_MINIMUM.get(kind)


def _loopback(item: Mapping[str, Any]) -> bool:
    """A source aimed at this machine (the simulator, a server of your own) has no platform to spare."""
    return bool(re.search(r"//(127\.|localhost\b|\[::1\])", repr(item)))


def check_config(
    path: str | Path | None = None, *, env: Mapping[str, str] = os.environ
) -> list[Problem]:
    """Every problem in the file, unset secrets included; never raises for a bad file.

    Warnings come back too, so the file is good to run when no problem has severity "error"
    (`monitor config check` should exit 2 only then).
    """
    return _analyse(path, env, check_secrets=True)[1]


def secret_problems(config: Config, env: Mapping[str, str] = os.environ) -> list[Problem]:
    """Unset secret variables of a loaded config (checked when a command is about to poll)."""
    display = config._display or str(config.path)
    return _secret_problems(enumerate(config.sources), config._locator, display, env)


# --- reading and locating ---------------------------------------------------------------------


class _Locator:
    """Positions (1-based line, column) of every key and value in the composed YAML.

    Paths are tuples of mapping keys and list indexes, the same shape as pydantic's `loc`.
    A path with no exact entry falls back to its nearest ancestor, so a problem about a key that
    is absent (or produced by a merge) still points inside the right mapping.
    """

    def __init__(self, root: yaml.Node):
        self.keys: dict[Loc, tuple[int, int]] = {}
        self.values: dict[Loc, tuple[int, int]] = {}
        self.duplicates: list[tuple[Loc, tuple[int, int], tuple[int, int]]] = []
        self._seen: set[int] = set()
        self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Loc) -> None:
        self.values[path] = _mark(node)
        if id(node) in self._seen:  # an alias: already walked (and maybe recursive)
            return
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            self._walk_mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, path + (index,))

    def _walk_mapping(self, node: yaml.MappingNode, path: Loc) -> None:
        first: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            key, at = key_node.value, _mark(key_node)
            if key in first:
                self.duplicates.append((path + (key,), first[key], at))
            else:
                first[key] = at
            # The last duplicate is the one PyYAML keeps, so later problems point at it.
            self.keys[path + (key,)] = at
            self._walk(value_node, path + (key,))

    def value(self, loc: Loc) -> tuple[int, int]:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.values:
                return self.values[loc[:end]]
        return (1, 1)

    def key(self, loc: Loc) -> tuple[int, int]:
        return self.keys.get(loc) or self.value(loc)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _read(path: Path, display: str) -> tuple[str | None, Problem | None]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, Problem(
            display, 1, 1, "config file not found (pass a path or set MONITOR_CONFIG)"
        )
    except OSError as exc:
        return None, Problem(display, 1, 1, f"cannot read the config file: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Problem(display, line, column, "the file is not UTF-8 text")


def _parse(text: str, display: str) -> tuple[yaml.Node | None, Any, Problem | None]:
    """Compose once (for positions) and construct from the same nodes (for values)."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters right away
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
        return root, data, None
    except yaml.MarkedYAMLError as exc:
        return None, None, _yaml_problem(exc, display)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return (
            None,
            None,
            Problem(
                display, line, column, f"YAML syntax error: {exc.reason} (#x{exc.character:04x})"
            ),
        )
    except RecursionError:
        return None, None, Problem(display, 1, 1, "YAML error: the document is nested too deeply")
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_problem(exc: yaml.MarkedYAMLError, display: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = (
        "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
    )
    message = f"{what}: {exc.problem or exc.context}"
    if exc.context and exc.problem:
        where = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{where})"
    if "'\\t'" in message:
        message += "; YAML does not allow tabs for indentation"
    return Problem(display, line, column, message)


# --- analysis ---------------------------------------------------------------------------------


def _analyse(
    path: str | Path | None, env: Mapping[str, str], *, check_secrets: bool
) -> tuple[Config | None, list[Problem]]:
    chosen = Path(path).expanduser() if path is not None else default_config_path(env)
    display = str(path) if path is not None else str(chosen)
    text, problem = _read(chosen, display)
    if problem:
        return None, [problem]
    root, data, problem = _parse(text or "", display)
    if problem:
        return None, [problem]
    if root is None or data is None:
        return None, [
            Problem(display, 1, 1, "the file is empty; it needs at least a 'topics:' list")
        ]
    if not isinstance(data, dict):
        line, column = _mark(root)
        return None, [
            Problem(
                display,
                line,
                column,
                "expected a mapping at the top level "
                f"(keys such as 'topics:' and 'sources:'), found {_describe(data)}",
            )
        ]
    return _Analysis(display, Path(os.path.abspath(chosen)), data, _Locator(root)).run(
        env, check_secrets
    )


class _Analysis:
    """One pass over one parsed file, collecting problems instead of stopping at the first."""

    def __init__(self, display: str, path: Path, data: dict[Any, Any], locator: _Locator):
        self.display = display
        self.path = path
        self.data = data
        self.locator = locator
        self.problems: list[Problem] = []

    def run(
        self, env: Mapping[str, str], check_secrets: bool
    ) -> tuple[Config | None, list[Problem]]:
        self._duplicate_keys()
        document = self._validate(_Document, self.data, ())
        settings = self._validate_sources(document.topics if document is not None else None)
        self._duplicate_names("topics", "topic")
        self._duplicate_names("sources", "source")
        self._topic_references()
        self._zero_durations()
        self._interval_warnings()
        self._secret_names(settings)
        self._duplicate_names("digests", "digest")
        self._output_topic_references()
        if check_secrets:
            self.problems += _secret_problems(settings, self.locator, self.display, env)
            self._output_secret_problems(env)
        if document is not None:
            self._warnings(document, settings)
        problems = sorted(dict.fromkeys(self.problems), key=lambda p: (p.line, p.column))
        if document is None or any(p.severity == "error" for p in problems):
            return None, problems
        return self._build(document, [s for _, s in settings]), problems

    # -- helpers that place and phrase a problem

    def add(
        self,
        loc: Loc,
        message: str,
        *,
        at: str = "value",
        severity: Literal["error", "warning"] = "error",
    ) -> None:
        line, column = self.locator.key(loc) if at == "key" else self.locator.value(loc)
        self.problems.append(Problem(self.display, line, column, message, severity))

    def raw(self, loc: Loc) -> Any:
        node: Any = self.data
        for part in loc:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def where(self, loc: Loc) -> str:
        """'source 'google-news'' for anything inside a named list item; '' at the top level."""
        if len(loc) < 2 or not isinstance(loc[0], str) or not isinstance(loc[1], int):
            return ""
        noun = loc[0][:-1] if loc[0].endswith("s") else loc[0]
        item = self.raw(loc[:2])
        name = item.get("name") if isinstance(item, dict) else None
        return (
            f"{noun} {_quote(name)}" if isinstance(name, str) and name else f"{noun} #{loc[1] + 1}"
        )

    def subject(self, loc: Loc) -> str:
        where = self.where(loc)
        label = _label(loc[2:] if where else loc)
        if where and label:
            return f"'{label}' in {where}"
        return where or (f"'{label}'" if label else "")

    # -- structural validation

    def _validate(
        self, model: type[BaseModel], data: Any, prefix: Loc, context: dict[str, Any] | None = None
    ) -> Any:
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                self._pydantic_problem(model, prefix, error)
            return None

    def _pydantic_problem(self, model: type[BaseModel], prefix: Loc, error: Any) -> None:
        rel: Loc = tuple(error["loc"])
        loc = prefix + rel
        kind = error["type"]
        if kind == "extra_forbidden" and rel:
            key = str(rel[-1])
            container = self.subject(loc[:-1])
            fields = _fields_at(model, rel[:-1])
            where = f" in {container}" if container else " at the top level"
            hint = _unknown_key_hint(key, fields)
            self.add(loc, f"unknown key {key!r}{where}{hint}", at="key")
        elif kind == "missing" and rel:
            container = self.subject(loc[:-1])
            owner = f"{container} is missing" if container else "missing"
            self.add(loc[:-1], f"{owner} required key {str(rel[-1])!r}")
        else:
            subject = self.subject(loc)
            detail = _detail(error, secret=_is_secret_loc(loc))
            if error.get("input") is None and {"hashtags", "exclude"} & set(loc):
                detail += " (a '#' after a space starts a YAML comment: quote hashtags, e.g. \"#TrumpPutin\")"
            self.add(loc, f"{subject}: {detail}" if subject else detail)

    def _validate_sources(self, topics: list[Topic] | None) -> list[tuple[int, SourceSettings]]:
        """Each source against its kind's model, with the topics as validation context: a check
        that depends on what a source serves (X's query length) lives in that kind's validator
        and is skipped when the topics themselves are invalid."""
        raw = self.data.get("sources")
        context = {"topics": topics} if topics is not None else None
        if not isinstance(raw, list):
            return []  # reported by the document model
        out = []
        for index, item in enumerate(raw):
            settings = self._validate_source(item, ("sources", index), context)
            if settings is not None:
                out.append((index, settings))
        return out

    def _validate_source(
        self, item: Any, loc: Loc, context: dict[str, Any] | None
    ) -> SourceSettings | None:
        if not isinstance(item, dict):
            self.add(
                loc,
                f"{self.where(loc)}: expected a mapping (name:, kind:, ...), found {_describe(item)}",
            )
            return None
        model = self._settings_model(item, loc)
        return self._validate(model, item, loc, context) if model is not None else None

    def _settings_model(self, item: dict[Any, Any], loc: Loc) -> type[SourceSettings] | None:
        known = sorted(_sources.KINDS)
        kind = item.get("kind")
        where = self.where(loc)
        if "kind" not in item:
            self.add(loc, f"{where} is missing required key 'kind' (one of: {', '.join(known)})")
        elif not isinstance(kind, str):
            self.add(
                loc + ("kind",),
                f"'kind' in {where}: expected one of {', '.join(known)}, found {_describe(kind)}",
            )
        elif kind not in _sources.KINDS:
            hint = _did_you_mean(kind, known)
            self.add(
                loc + ("kind",),
                f"unknown kind {kind!r} in {where}{hint}; known kinds: {', '.join(known)}",
            )
        else:
            try:
                return _sources.settings_model(kind)
            except Exception as exc:  # a broken plugin module must not crash `config check`
                self.add(
                    loc + ("kind",),
                    f"cannot load source kind {kind!r}: {type(exc).__name__}: {exc}",
                )
        return None

    # -- checks across items

    def _duplicate_keys(self) -> None:
        for loc, first, (line, column) in self.locator.duplicates:
            container = self.subject(loc[:-1])
            where = f" in {container}" if container else " at the top level"
            message = (
                f"duplicate key {str(loc[-1])!r}{where} (first at line {first[0]}); "
                "only the last one would be used"
            )
            self.problems.append(Problem(self.display, line, column, message))

    def _duplicate_names(self, section: str, noun: str) -> None:
        items = self.data.get(section)
        if not isinstance(items, list):
            return
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            loc = (section, index, "name")
            if name.casefold() in first:
                line = self.locator.value((section, first[name.casefold()], "name"))[0]
                self.add(
                    loc, f"duplicate {noun} name {_quote(name)} (first defined at line {line})"
                )
            else:
                first[name.casefold()] = index

    def _topic_names(self) -> list[str]:
        topics = self.data.get("topics")
        if not isinstance(topics, list):
            return []
        return [t["name"] for t in topics if isinstance(t, dict) and isinstance(t.get("name"), str)]

    def _topic_references(self) -> None:
        known = self._topic_names()
        raw = self.data.get("sources")
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            names = item.get("topics") if isinstance(item, dict) else None
            if not isinstance(names, list):
                continue
            loc = ("sources", index, "topics")
            if not names:
                self.add(
                    loc, f"{self.subject(loc)}: empty list; leave 'topics' out to feed every topic"
                )
            for position, name in enumerate(names):
                if isinstance(name, str) and name not in known:
                    hint = (
                        _did_you_mean(name, known)
                        or f" (defined topics: {', '.join(known) or 'none'})"
                    )
                    self.add(
                        loc + (position,),
                        f"{self.where(loc)} names unknown topic {_quote(name)}{hint}",
                    )

    def _output_topic_references(self) -> None:
        """Topics named by a digest or under `alerts.topics` must exist (a typo would silently cover nothing)."""
        known = self._topic_names()
        raw = self.data.get("digests")
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            names = item.get("topics") if isinstance(item, dict) else None
            if not isinstance(names, list):
                continue
            loc = ("digests", index, "topics")
            if not names:
                self.add(
                    loc, f"{self.subject(loc)}: empty list; leave 'topics' out to cover every topic"
                )
            for position, name in enumerate(names):
                if isinstance(name, str) and name not in known:
                    hint = (
                        _did_you_mean(name, known)
                        or f" (defined topics: {', '.join(known) or 'none'})"
                    )
                    self.add(
                        loc + (position,),
                        f"{self.where(loc)} names unknown topic {_quote(name)}{hint}",
                    )
        alerts = self.data.get("alerts")
        per_topic = alerts.get("topics") if isinstance(alerts, dict) else None
        for name in per_topic if isinstance(per_topic, dict) else {}:
            if isinstance(name, str) and name not in known:
                hint = (
                    _did_you_mean(name, known) or f" (defined topics: {', '.join(known) or 'none'})"
                )
                self.add(
                    ("alerts", "topics", name),
                    f"'alerts.topics' names unknown topic {_quote(name)}{hint}",
                    at="key",
                )

    def _output_secret_problems(self, env: Mapping[str, str]) -> None:
        """Unset variables named by a digest's e-mail or webhook, or the alerts' webhook (names only)."""
        outputs: list[tuple[Loc, Any]] = []
        raw = self.data.get("digests")
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            for key in ("email", "webhook"):
                if isinstance(item, dict) and isinstance(item.get(key), dict):
                    outputs.append((("digests", index, key), item[key]))
        alerts = self.data.get("alerts")
        if isinstance(alerts, dict) and isinstance(alerts.get("webhook"), dict):
            outputs.append((("alerts", "webhook"), alerts["webhook"]))
        for loc, output in outputs:
            for field in ("user_env", "password_env", "url_env"):
                variable = output.get(field)
                if (
                    isinstance(variable, str)
                    and _ENV_NAME.fullmatch(variable)
                    and not env.get(variable)
                ):
                    owner = self.where(loc) or "alerts"
                    self.add(
                        loc + (field,),
                        f"{owner}: environment variable {variable} is not set ({loc[-1]}.{field})",
                    )

    def _zero_durations(self) -> None:
        """A zero interval would poll in a tight loop; the models accept it, so catch it here.

        Read from the raw values so the problem shows even when something else in the same
        source fails validation.
        """
        raw = self.data.get("sources")
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            for field in ("interval", "timeout"):
                if not isinstance(item, dict) or field not in item:
                    continue
                try:
                    too_short = parse_duration(item[field]) <= timedelta(0)
                except ValueError:
                    continue  # the model reports the unparseable value
                if too_short:
                    loc = ("sources", index, field)
                    self.add(
                        loc, f"{self.subject(loc)}: must be longer than 0s (use e.g. 30s, 5m, 1h)"
                    )

    def _interval_warnings(self) -> None:
        """Warn (the file still runs) about a poll interval below what the platform asks for, and
        about a bare number, which is read as seconds where a reader may have meant minutes."""
        raw = self.data.get("sources")
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(item, dict) or "interval" not in item:
                continue
            loc = ("sources", index, "interval")
            value = item["interval"]
            try:
                interval = parse_duration(value)
            except ValueError:
                continue
            if interval <= timedelta(0):
                continue  # an error of its own (_zero_durations)
            if not isinstance(value, bool) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(value)):
                self.add(
                    loc,
                    f"{self.subject(loc)}: a bare number is read as seconds ({value} = "
                    f"{format_duration(interval)}); write the unit, e.g. {format_duration(interval)}",
                    severity="warning",
                )
            polite = polite_minimum(str(item.get("kind", "")), str(item.get("url", "")))
            if polite is not None and not _loopback(item) and interval < polite[0]:
                self.add(
                    loc,
                    f"{self.subject(loc)}: every {format_duration(interval)} is faster than "
                    f"{polite[1]}; use {format_duration(polite[0])} or more",
                    severity="warning",
                )

    def _secret_names(self, settings: list[tuple[int, SourceSettings]]) -> None:
        """A value that is not a variable name is most likely the secret pasted in: never echo it."""
        for index, source in settings:
            for field, variable in source.secret_env_vars().items():
                if not _ENV_NAME.fullmatch(variable):
                    loc = ("sources", index, field)
                    self.add(
                        loc,
                        f"{self.subject(loc)}: must be the NAME of an environment variable "
                        "(letters, digits and '_'), never the secret itself",
                    )

    def _warnings(self, document: _Document, settings: list[tuple[int, SourceSettings]]) -> None:
        if document.store and _DB_URL_PASSWORD.match(document.store):
            self.add(
                ("store",),
                f"'store' contains a password; feeds.yaml is meant to be shared, "
                f"so set {DB_URL_ENV} instead",
                severity="warning",
            )
        raw = self.data.get("sources")
        if not settings or not isinstance(raw, list) or len(settings) != len(raw):
            return
        enabled = [s for _, s in settings if s.enabled]
        if any(s.topics is None for s in enabled):
            return
        used = {name for s in enabled for name in (s.topics or [])}
        for index, topic in enumerate(document.topics):
            if topic.name not in used:
                self.add(
                    ("topics", index, "name"),
                    f"topic {topic.name!r} is not fed by any enabled source",
                    severity="warning",
                )

    def _build(self, document: _Document, settings: list[SourceSettings]) -> Config:
        storage = Path(document.storage_dir).expanduser()
        if not storage.is_absolute():
            storage = Path(os.path.normpath(self.path.parent / storage))
        fields = {name: getattr(document, name) for name in _Document.model_fields}
        fields.update(path=self.path, storage_dir=storage, sources=settings)
        config = Config(**fields)
        config._display = self.display
        config._locator = self.locator
        return config


def _secret_problems(
    settings: Iterable[tuple[int, SourceSettings]],
    locator: _Locator | None,
    display: str,
    env: Mapping[str, str],
) -> list[Problem]:
    """Only the variable's name is ever put in a message; its value is tested for emptiness only."""
    problems = []
    for index, source in settings:
        for field, variable in source.secret_env_vars().items():
            if env.get(variable) or not _ENV_NAME.fullmatch(variable):
                continue  # set, or not a name at all (reported without echoing it)
            line, column = locator.value(("sources", index, field)) if locator else (1, 1)
            message = (
                f"source {source.name!r}: environment variable {variable} is not set ({field})"
            )
            if source.enabled:
                problems.append(Problem(display, line, column, message))
            else:
                problems.append(
                    Problem(display, line, column, message + "; the source is disabled", "warning")
                )
    return problems


# --- phrasing ---------------------------------------------------------------------------------

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "path_type": "a path",
}


def _detail(error: Any, *, secret: bool) -> str:
    """The part of a message after 'what and where': what was expected and what was found."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    found = _describe(value, echo=not secret)
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind.startswith("url_"):
        reason = ctx.get("error") or error["msg"]
        return f"not a valid http(s) URL ({reason}), found {found}"
    if kind == "string_pattern_mismatch" and error["loc"][-1:] == ("name",):
        return (
            f"{found} is not a valid name: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    if kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind in _EXPECTED:
        hint = (
            " (YAML reads yes/no/on/off as true/false; put the value in quotes)"
            if isinstance(value, bool)
            else ""
        )
        return f"expected {_EXPECTED[kind]}, found {found}{hint}"
    message: str = error["msg"]
    if message.startswith("Input should be "):
        return f"expected {message.removeprefix('Input should be ')}, found {found}"
    return f"{message[:1].lower()}{message[1:]}, found {found}"


def _describe(value: Any, *, echo: bool = True) -> str:
    """A YAML user's word for a value: 'a list', 'the text 'lots'', 'nothing'."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}" if echo else "a number"
    if isinstance(value, str):
        return f"the text {_quote(value)}" if echo else "text"
    if isinstance(value, (datetime, date)):
        return "a date"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _quote(value: str, limit: int = 60) -> str:
    """repr() escapes control characters, so a hostile file cannot drive the terminal."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _label(loc: Loc) -> str:
    parts = list(loc)
    while parts and isinstance(parts[-1], int):
        parts.pop()
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_secret_loc(loc: Loc) -> bool:
    return any(isinstance(part, str) and part.endswith("_env") for part in loc)


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    by_folded = {c.casefold(): c for c in candidates}
    close = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return f" (did you mean {by_folded[close[0]]!r}?)" if close else ""


def _unknown_key_hint(key: str, fields: list[str]) -> str:
    if f"{key}_env" in fields:
        return (
            f" (a secret never goes in feeds.yaml: put it in an environment variable "
            f"and name that variable under '{key}_env')"
        )
    return _did_you_mean(key, fields) or (
        f" (expected one of: {', '.join(sorted(fields))})" if fields else ""
    )


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed at `loc` below `model`, for did-you-mean on unknown keys."""
    current: type[BaseModel] | None = model
    is_key = False  # the part after a mapping field (`alerts.topics.<name>`) is a user's key
    for part in loc:
        if isinstance(part, int) or is_key:
            is_key = False
            continue
        field = current.model_fields.get(part) if current else None
        if field is None:
            return []
        current = _submodel(field.annotation)
        if current is None:
            return []
        is_key = get_origin(field.annotation) is dict
    # A field written under another name in YAML (`from` for `sender`) is offered by that name.
    return [f.alias or name for name, f in current.model_fields.items()] if current else []
