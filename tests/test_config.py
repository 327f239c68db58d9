"""feeds.yaml loading: the shipped default, each kind of problem at its exact place, env overrides.

Problems are the user interface of the config loader, so most tests compare whole
`path:line:column: message` lines: a wrong column is as much a bug as a wrong message.
"""

from __future__ import annotations

import sys
import textwrap
import types
from datetime import timedelta
from pathlib import Path

import pytest

from monitor import sources
from monitor.config.feeds import (
    Config,
    ConfigError,
    Problem,
    Topic,
    check_config,
    default_config_path,
    load_config,
    secret_problems,
)
from monitor.sources.base import Batch, PollContext, Source, SourceSettings

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "feeds.yaml"

GOOD = """\
topics:
  - name: story
    hashtags: ["#Story"]
sources:
  - name: google-news
    kind: rss
    url: https://news.google.com/rss/search?q=story
    interval: 10m
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def lines(path: Path, env: dict[str, str] | None = None) -> list[str]:
    return [str(p) for p in check_config(path, env=env or {})]


# --- the shipped default ----------------------------------------------------------------------


def test_shipped_feeds_yaml_passes_check_without_any_secret() -> None:
    assert check_config(SHIPPED, env={}) == []


def test_shipped_feeds_yaml_follows_the_story() -> None:
    config = load_config(SHIPPED, env={}, check_secrets=True)
    main = config.topic("trump-putin-business")
    assert {"trumpputinbusiness", "trumpputin", "трамппутин"} <= set(main.tags)
    assert {"Trump Putin trade", "Russia sanctions", "Dmitriev"} <= set(main.keywords)
    assert main.exclude
    assert not any(s.secret_env_vars() for s in config.sources if s.enabled)  # no key needed
    assert all(config.topics_for(s) for s in config.sources)

    news = [s for s in config.sources if s.kind == "rss" and "news.google.com" in str(s.url)]
    assert news and all(s.match == "all" and s.interval == timedelta(minutes=10) for s in news)
    (mastodon,) = [s for s in config.sources if s.kind == "mastodon"]
    # large instances
    assert len(mastodon.instances) >= 2 and mastodon.interval == timedelta(minutes=2)
    hn = [
        s
        for s in config.sources
        if s.kind == "hackernews" or "hnrss.org" in str(getattr(s, "url", ""))
    ]
    assert hn and all(s.interval == timedelta(minutes=5) for s in hn)


def test_shipped_feeds_yaml_shows_keyed_sources_only_as_comments() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    for needle in (
        "bearer_token_env: X_BEARER_TOKEN",
        "handle_env:",
        "app_password_env:",
        "client_id_env:",
        "client_secret_env:",
    ):
        line = next(line for line in text.splitlines() if needle in line)
        assert line.lstrip().startswith("#"), line
    assert "NEEDS A KEY" in text


# --- one test per kind of problem -------------------------------------------------------------


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    interval: 10m", "    intervall: 10m"))
    assert lines(path) == [
        f"{path}:8:5: unknown key 'intervall' in source 'google-news' (did you mean 'interval'?)"
    ]


def test_unknown_key_in_topic_and_at_top_level(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("    hashtags:", "    hashtag:").replace("sources:", "source:")
    )
    assert lines(path) == [
        f"{path}:3:5: unknown key 'hashtag' in topic 'story' (did you mean 'hashtags'?)",
        f"{path}:4:1: unknown key 'source' at the top level (did you mean 'sources'?)",
    ]


def test_wrong_type_says_what_was_expected_and_found(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    max_bytes: lots\n")
    assert lines(path) == [
        f"{path}:9:16: 'max_bytes' in source 'google-news': expected a whole number, found the text 'lots'"
    ]


def test_wrong_type_list_expected(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('["#Story"]', "Story"))
    assert lines(path) == [
        f"{path}:3:15: 'hashtags' in topic 'story': expected a list, found the text 'Story'"
    ]


def test_yaml_booleans_get_a_quoting_hint(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    hashtags:", "    languages: [en, no]\n    hashtags:"))
    [line] = lines(path)
    assert line.startswith(f"{path}:3:21: 'languages' in topic 'story': expected text, found false")
    assert "quotes" in line


def test_unquoted_hashtag_becomes_a_comment_and_gets_a_hint(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace('    hashtags: ["#Story"]\n', "    hashtags:\n      - #Story\n")
    )
    [line] = lines(path)
    assert line.startswith(f"{path}:4:8: 'hashtags' in topic 'story': expected text, found nothing")
    assert 'quote hashtags, e.g. "#TrumpPutin"' in line


def test_bad_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("https://news.google.com/rss/search?q=story", "ftp://example.org/feed"),
    )
    [line] = lines(path)
    assert line.startswith(f"{path}:7:10: 'url' in source 'google-news': not a valid http(s) URL")
    assert "'ftp://example.org/feed'" in line


def test_bad_store_url_is_reported_without_echoing_it(tmp_path: Path) -> None:
    path = write(tmp_path, "store: not-a-url-hunter2\n" + GOOD)
    [line] = lines(path)
    assert line.startswith(f"{path}:1:8: 'store': not a database URL")
    assert "hunter2" not in line


def test_sqlite_url_with_two_slashes(tmp_path: Path) -> None:
    path = write(tmp_path, "store: sqlite://storage/monitor.db\n" + GOOD)
    [line] = lines(path)
    assert line.startswith(f"{path}:1:8: 'store': a SQLite URL needs three slashes")


def test_password_in_store_is_only_a_warning_and_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "store: postgresql+psycopg://me:hunter2@db/monitor\n" + GOOD)
    [problem] = check_config(path, env={})
    assert problem.severity == "warning"
    assert str(problem).startswith(f"{path}:1:8: warning: 'store' contains a password")
    assert "hunter2" not in str(problem)
    assert load_config(path, env={}).store_url({}) == "postgresql+psycopg://me:hunter2@db/monitor"


def test_bad_interval_uses_the_duration_message(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("interval: 10m", "interval: 5 mins"))
    assert lines(path) == [
        f"{path}:8:15: 'interval' in source 'google-news': not a duration: '5 mins' (use e.g. 30s, 5m, 1h30m, 7d)"
    ]


def test_zero_interval(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("interval: 10m", "interval: 0s"))
    assert lines(path) == [
        f"{path}:8:15: 'interval' in source 'google-news': must be longer than 0s (use e.g. 30s, 5m, 1h)"
    ]


def test_duplicate_source_name_points_at_the_second(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD
        + """\
  - name: Google-News
    kind: rss
    url: https://example.org/feed
""",
    )
    assert lines(path) == [
        f"{path}:9:11: duplicate source name 'Google-News' (first defined at line 5)"
    ]


def test_duplicate_topic_name(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("sources:", "  - name: story\n    keywords: [again]\nsources:")
    )
    assert lines(path) == [f"{path}:4:11: duplicate topic name 'story' (first defined at line 2)"]


def test_source_naming_an_unknown_topic(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    topics: [story, stroy, other]\n")
    assert lines(path) == [
        f"{path}:9:21: source 'google-news' names unknown topic 'stroy' (did you mean 'story'?)",
        f"{path}:9:28: source 'google-news' names unknown topic 'other' (defined topics: story)",
    ]


def test_unknown_kind_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("kind: rss", "kind: rsss"))
    known = ", ".join(sorted(sources.KINDS))
    assert lines(path) == [
        f"{path}:6:11: unknown kind 'rsss' in source 'google-news' (did you mean 'rss'?); known kinds: {known}"
    ]


def test_missing_required_keys_point_at_the_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("    url: https://news.google.com/rss/search?q=story\n", "")
    )
    assert lines(path) == [f"{path}:5:5: source 'google-news' is missing required key 'url'"]
    path = write(tmp_path, "sources: []\n", name="no-topics.yaml")
    assert lines(path) == [f"{path}:1:1: missing required key 'topics'"]


def test_topic_needs_hashtags_or_keywords(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('    hashtags: ["#Story"]\n', "    title: A story\n"))
    assert lines(path) == [
        f"{path}:2:5: topic 'story': needs at least one entry under 'hashtags' or 'keywords'"
    ]


def test_bad_topic_name_and_hashtag(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("name: story", "name: My Story").replace('"#Story"', '"#two words"')
    )
    assert lines(path) == [
        f"{path}:2:11: 'name' in topic 'My Story': 'My Story' is not a valid topic name: use lowercase "
        "letters, digits, '-' and '_', starting with a letter or digit (e.g. trump-putin-business)",
        f"{path}:3:16: 'hashtags' in topic 'My Story': '#two words' is not a hashtag: after the '#' use "
        "only letters, digits and '_' (put phrases under 'keywords')",
    ]


def test_yaml_syntax_error_has_its_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('["#Story"]', '["#Story"'))
    [line] = lines(path)
    assert line.startswith(f"{path}:4:1: YAML syntax error: expected ',' or ']'")
    assert "line 3" in line


def test_tab_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "topics:\n\t- name: story\n")
    [line] = lines(path)
    assert line.startswith(f"{path}:2:1: YAML syntax error:")
    assert "tabs" in line


def test_duplicate_yaml_key_is_not_silently_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    interval: 5m\n")
    assert lines(path) == [
        f"{path}:9:5: duplicate key 'interval' in source 'google-news' (first at line 8); "
        "only the last one would be used"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1:1: the file is empty"),
        ("# only a comment\n", "1:1: the file is empty"),
        ("- a\n- b\n", "1:1: expected a mapping at the top level"),
        ("just text\n", "1:1: expected a mapping at the top level"),
    ],
)
def test_files_without_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    [line] = lines(path)
    assert line.startswith(f"{path}:{message}")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert lines(tmp_path / "nope.yaml") == [
        f"{tmp_path / 'nope.yaml'}:1:1: config file not found (pass a path or set MONITOR_CONFIG)"
    ]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"topics:\n  - name: caf\xe9\n")
    assert lines(bad) == [f"{bad}:2:14: the file is not UTF-8 text"]


def test_every_problem_in_one_run(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD
        + """\
  - name: second
    kind: rss
    url: nope
    interval: soon
  - name: third
    kind: file
""",
    )
    found = lines(path)
    assert [line.split(": ", 1)[0] for line in found] == [
        f"{path}:11:10",
        f"{path}:12:15",
        f"{path}:13:5",
    ]
    assert "missing required key 'path'" in found[2]


def test_load_config_raises_with_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("interval: 10m", "interval: soon").replace(
            "kind: rss", "bogus: 1\n    kind: rss"
        ),
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).splitlines() == [str(p) for p in caught.value.problems]
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize(
    "text",
    [
        "42\n",
        "topics: 5\n",
        "topics: [[1]]\nsources: {a: 1}\n",
        "topics: []\nsources: [3, null]\n",
        "&a [*a]\n",
        "topics:\n  - &t {name: x, keywords: [k], more: *t}\n",
        "? [a, b]\n: c\n",
        "a: !!python/object:os.system x\n",
        "when: 2001-01-01\ntopics: [{name: 2001-01-01}]\n",
        "--- a\n--- b\n",
        "a: \x01\n",
        "topics:\n  - name: x\n    keywords: [k]\nsources:\n  - {kind: [rss]}\n  - {name: y, kind: file, path: 3}\n",
    ],
)
def test_odd_documents_give_problems_not_tracebacks(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    problems = check_config(path, env={})
    assert problems and all(isinstance(p, Problem) for p in problems)
    assert all(str(p).startswith(f"{path}:") for p in problems)
    with pytest.raises(ConfigError):
        load_config(path, env={})


def test_unused_topic_is_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("sources:", "  - name: other\n    keywords: [x]\nsources:")
        + "    topics: [story]\n",
    )
    [problem] = check_config(path, env={})
    assert problem.severity == "warning"
    assert str(problem) == f"{path}:4:11: warning: topic 'other' is not fed by any enabled source"
    assert load_config(path, env={}).topic("other")


# --- environment and paths --------------------------------------------------------------------


def test_store_url_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = load_config(path, env={})
    assert config.store_url({}) == f"sqlite:///{(tmp_path / 'storage' / 'monitor.db').as_posix()}"
    assert (
        config.store_url({"MONITOR_DB_URL": "postgresql+psycopg://db/m"})
        == "postgresql+psycopg://db/m"
    )

    path = write(
        tmp_path, "store: postgresql+psycopg://db/from-file\n" + GOOD, name="with-store.yaml"
    )
    config = load_config(path, env={})
    assert config.store_url({}) == "postgresql+psycopg://db/from-file"
    assert config.store_url({"MONITOR_DB_URL": "sqlite:///x.db"}) == "sqlite:///x.db"


def test_relative_sqlite_store_is_taken_from_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "store: sqlite:///data/m.db?timeout=5\n" + GOOD, name="conf/feeds.yaml")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/feeds.yaml"), env={})
    assert config.path == path
    assert (
        config.store_url({})
        == f"sqlite:///{(tmp_path / 'conf' / 'data' / 'm.db').as_posix()}?timeout=5"
    )


def test_storage_dir_resolves_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "storage_dir: ../runtime\n" + GOOD, name="conf/feeds.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(tmp_path / "conf" / "feeds.yaml", env={})
    assert config.storage_dir == tmp_path / "runtime"
    assert config.storage_dir.is_absolute()

    absolute = tmp_path / "abs"
    path = write(tmp_path, f"storage_dir: {absolute}\n" + GOOD, name="abs.yaml")
    assert load_config(path, env={}).storage_dir == absolute
    assert (
        load_config(write(tmp_path, GOOD, name="d/feeds.yaml"), env={}).storage_dir
        == tmp_path / "d" / "storage"
    )


def test_monitor_config_picks_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD, name="other.yaml")
    env = {"MONITOR_CONFIG": str(path)}
    assert default_config_path({}) == Path("feeds.yaml")
    assert default_config_path(env) == path
    assert load_config(env=env).path == path

    monkeypatch.chdir(tmp_path)
    broken = write(tmp_path, GOOD.replace("kind: rss", "kind: nope"), name="broken.yaml")
    [line] = lines(None, env={"MONITOR_CONFIG": "broken.yaml"})  # type: ignore[arg-type]
    assert line.startswith("broken.yaml:6:11: unknown kind 'nope'")
    assert broken.exists()


def test_default_path_is_feeds_yaml_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GOOD)
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}).path == tmp_path / "feeds.yaml"


# --- secrets ----------------------------------------------------------------------------------

SECRET = "s3cr3t-VALUE-do-not-print"


class KeyedSettings(SourceSettings):
    query: str
    bearer_token_env: str = "X_BEARER_TOKEN"
    user_env: str | None = None


class KeyedSource(Source):
    kind = "keyed"
    Settings = KeyedSettings

    def fetch(self, state: dict, ctx: PollContext) -> Batch:  # pragma: no cover - never polled
        raise NotImplementedError


@pytest.fixture
def keyed_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source kind with secrets, registered the way a real platform module is."""
    module = types.ModuleType("monitor.sources._keyed_for_tests")
    module.KeyedSource = KeyedSource  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(sources.KINDS, "keyed", "_keyed_for_tests")


KEYED = (
    GOOD
    + """\
  - name: x-search
    kind: keyed
    query: Trump Putin
    bearer_token_env: X_BEARER_TOKEN
    interval: 15m
"""
)


def test_unset_secret_names_the_variable(tmp_path: Path, keyed_kind: None) -> None:
    path = write(tmp_path, KEYED)
    expected = (
        f"{path}:12:23: source 'x-search': environment variable X_BEARER_TOKEN is not set "
        "(bearer_token_env)"
    )
    assert lines(path) == [expected]

    config = load_config(path, env={})  # secrets are checked only when asked for
    assert [str(p) for p in secret_problems(config, {})] == [expected]
    assert secret_problems(config, {"X_BEARER_TOKEN": SECRET}) == []
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={}, check_secrets=True)
    assert str(caught.value) == expected
    assert load_config(path, env={"X_BEARER_TOKEN": SECRET}, check_secrets=True).source("x-search")


def test_secret_value_never_appears_in_any_output(
    tmp_path: Path, keyed_kind: None, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"X_BEARER_TOKEN": SECRET, "MONITOR_USER": SECRET}
    good = write(
        tmp_path,
        KEYED.replace("    interval: 15m\n", "    user_env: MONITOR_USER\n    interval: 15m\n"),
    )
    config = load_config(good, env=env, check_secrets=True)
    outputs = [repr(config), config.model_dump_json(), str(check_config(good, env=env))]

    bad = write(
        tmp_path,
        KEYED.replace("interval: 10m", "interval: never\n    bogus: 1").replace(
            "interval: 15m", "user_env: MISSING_VAR"
        ),
        name="bad.yaml",
    )
    problems = check_config(bad, env=env)
    assert any("MISSING_VAR is not set" in str(p) for p in problems)
    with pytest.raises(ConfigError) as caught:
        load_config(bad, env=env, check_secrets=True)
    outputs += [str(p) for p in problems] + [str(caught.value), repr(caught.value)]
    captured = capsys.readouterr()
    outputs += [captured.out, captured.err]
    assert not any(SECRET in output for output in outputs)


def test_secret_pasted_into_an_env_field_is_not_echoed(tmp_path: Path, keyed_kind: None) -> None:
    path = write(
        tmp_path,
        KEYED.replace("bearer_token_env: X_BEARER_TOKEN", "bearer_token_env: AAAA/sk-live+123="),
    )
    assert lines(path) == [
        f"{path}:12:23: 'bearer_token_env' in source 'x-search': must be the NAME of an environment "
        "variable (letters, digits and '_'), never the secret itself"
    ]


def test_secret_under_a_plain_key_points_to_the_env_field(tmp_path: Path, keyed_kind: None) -> None:
    path = write(
        tmp_path, KEYED.replace("bearer_token_env: X_BEARER_TOKEN", "bearer_token: sk-live-123")
    )
    found = lines(path, env={"X_BEARER_TOKEN": "set"})
    assert found == [
        f"{path}:12:5: unknown key 'bearer_token' in source 'x-search' (a secret never goes in feeds.yaml: "
        "put it in an environment variable and name that variable under 'bearer_token_env')"
    ]


def test_disabled_source_secret_is_a_warning(tmp_path: Path, keyed_kind: None) -> None:
    path = write(tmp_path, KEYED + "    enabled: false\n")
    [problem] = check_config(path, env={})
    assert problem.severity == "warning"
    assert " warning: source 'x-search': environment variable X_BEARER_TOKEN is not set" in str(
        problem
    )
    assert load_config(path, env={}, check_secrets=True).source("x-search").enabled is False


# --- models -----------------------------------------------------------------------------------


def test_topic_normalizes_hashtags_for_matching() -> None:
    topic = Topic(
        name="thaw",
        hashtags=["#TrumpPutin", "trumpputin", " #ТрампПутин ", "TrumpPutinBusiness"],
        exclude=["crypto  giveaway", "#AirDrop"],
        languages=["EN", "ru"],
    )
    assert topic.hashtags == ["TrumpPutin", "ТрампПутин", "TrumpPutinBusiness"]
    assert topic.tags == ["trumpputin", "трамппутин", "trumpputinbusiness"]
    assert topic.exclude_tags == ["airdrop"]
    assert topic.exclude_keywords == ["crypto giveaway"]
    assert topic.languages == ["en", "ru"]
    assert topic.display_name == "thaw"
    assert Topic(name="t", title="The thaw", keywords=["x"]).display_name == "The thaw"


def test_lookups_and_topics_for(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("sources:", "  - name: other\n    keywords: [x]\nsources:")
        + "  - name: hn\n    kind: rss\n    url: https://hnrss.org/newest?q=x\n    topics: [other]\n",
    )
    config = load_config(path, env={})
    assert isinstance(config, Config)
    assert [t.name for t in config.topics_for(config.source("google-news"))] == ["story", "other"]
    assert [t.name for t in config.topics_for(config.source("hn"))] == ["other"]
    assert type(config.source("hn")).__name__ == "RssSettings"
    with pytest.raises(KeyError, match="did you mean 'story'"):
        config.topic("stroy")
    with pytest.raises(KeyError, match="no source named 'nope'"):
        config.source("nope")


def test_problem_format() -> None:
    assert str(Problem("feeds.yaml", 14, 5, "unknown key")) == "feeds.yaml:14:5: unknown key"
    assert str(Problem("f", 1, 2, "m", "warning")) == "f:1:2: warning: m"
    assert (
        str(ConfigError([Problem("f", 1, 1, "a"), Problem("f", 2, 1, "b")])) == "f:1:1: a\nf:2:1: b"
    )
