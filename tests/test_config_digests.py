"""The `digests:` and `alerts:` sections: defaults, problems at PATH:LINE:COLUMN, crontab semantics."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config.digests import cron_trigger
from monitor.config.feeds import check_config, load_config

REPO = Path(__file__).resolve().parent.parent

TOPICS = """\
topics:
  - name: story
    hashtags: ["#Story"]
  - name: other
    keywords: [other story]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(TOPICS + textwrap.dedent(text), encoding="utf-8")
    return path


def lines(path: Path, env: dict[str, str] | None = None) -> list[str]:
    return [str(p) for p in check_config(path, env=env or {})]


def test_a_full_digest_and_alerts_section_loads_with_its_defaults(tmp_path):
    path = write(
        tmp_path,
        """\
        storage_dir: data
        digests:
          - name: morning
            schedule: "30 6 * * 1-5"
            timezone: Europe/Berlin
            topics: [story]
            email:
              host: smtp.example.org
              user_env: SMTP_USER
              password_env: SMTP_PASSWORD
              from: "Monitor <monitor@example.org>"
              to: [a@example.org]
            webhook: {url_env: HOOK, format: slack}
          - name: evening
            folder: ../shared/digests
            webhook: {url: "https://hooks.example.org/x"}
        alerts:
          timezone: Europe/Berlin
          defaults: {cooldown: 1h}
          topics:
            other: {alpha: 0.01, sentiment: false}
        """,
    )
    config = load_config(path, env={})
    morning, evening = config.digests
    assert [t.name for t in config.digest_topics(morning)] == ["story"]
    assert [t.name for t in config.digest_topics(evening)] == ["story", "other"]
    assert config.digest_folder(morning) == tmp_path / "data" / "digests"
    assert config.digest_folder(evening) == tmp_path.parent / "shared" / "digests"
    assert (
        morning.email.smtp_port == 587 and morning.email.sender == "Monitor <monitor@example.org>"
    )
    assert evening.schedule == "0 7 * * *" and evening.timezone == "UTC" and evening.email is None
    assert evening.webhook.format == "json"
    other, story = config.alerts.for_topic("other"), config.alerts.for_topic("story")
    assert (other.alpha, other.sentiment, other.cooldown) == (0.01, False, timedelta(hours=1))
    assert (story.alpha, story.sentiment, story.cooldown) == (0.025, True, timedelta(hours=1))
    assert config.alerts.enabled and config.alerts.webhook is None


def test_without_the_sections_there_are_no_digests_and_alerts_use_the_metrics_defaults(tmp_path):
    config = load_config(write(tmp_path, ""), env={})
    assert config.digests == []
    s = config.alerts.for_topic("story")
    assert (s.alpha, s.alpha_recent, s.ewma_limit, s.min_excess, s.min_posts) == (
        0.025,
        0.001,
        3.0,
        5,
        5,
    )
    assert s.cooldown == timedelta(hours=2)


def test_every_problem_is_placed_at_its_line_and_column(tmp_path):
    path = write(
        tmp_path,
        """\
        digests:
          - name: morning
            schedule: "0 7 * * 8"
            timezone: Europe/Berln
            topics: [stroy]
            email:
              host: smtp.example.org
              form: a@b.org
              to: [me@example.org, "not an address"]
              user_env: SMTP_USER
              password_env: "hunter2 secret"
            webhook: {url_env: HOOK, format: teams}
          - name: morning
            email: {host: mail.example.org, security: none, user_env: U, password_env: P, from: a@b.org, to: [c@d.org]}
          - name: Bad Name
            webhook: {url: "https://x.example.org", url_env: HOOK}
        alerts:
          defaults: {alpha: 0.7}
          topics:
            story: {cooldwn: 1h}
            nope: {cooldown: 1h}
        """,
    )
    env = {"U": "user", "P": "pass"}
    assert lines(path, env) == [
        f"{path}:8:15: 'schedule' in digest 'morning': '0 7 * * 8' is not a valid cron schedule: '8' is not a weekday "
        "(use 0-7, where 0 and 7 are Sunday, or sun, mon, ...); e.g. '0 7 * * *' is 07:00 every day, "
        "'30 6 * * 1-5' is 06:30 Monday to Friday",
        f"{path}:9:15: 'timezone' in digest 'morning': unknown time zone 'Europe/Berln' "
        "(did you mean 'Europe/Berlin'?)",
        f"{path}:10:14: digest 'morning' names unknown topic 'stroy' (did you mean 'story'?)",
        f"{path}:12:7: 'email' in digest 'morning' is missing required key 'from'",
        f"{path}:13:7: unknown key 'form' in 'email' in digest 'morning' (did you mean 'from'?)",
        f"{path}:14:28: 'email.to' in digest 'morning': 'not an address' is not an e-mail address "
        "(e.g. monitor@example.org)",
        f"{path}:15:17: digest 'morning': environment variable SMTP_USER is not set (email.user_env)",
        f"{path}:16:21: 'email.password_env' in digest 'morning': must be the NAME of an environment variable "
        "(letters, digits and '_'), never the secret itself",
        f"{path}:17:24: digest 'morning': environment variable HOOK is not set (webhook.url_env)",
        f"{path}:17:38: 'webhook.format' in digest 'morning': expected 'slack' or 'json', found the text 'teams'",
        f"{path}:18:11: duplicate digest name 'morning' (first defined at line 7)",
        f"{path}:19:12: 'email' in digest 'morning': a password would cross the network unencrypted: use security: "
        "starttls or tls (security: none is only for a relay on this machine)",
        f"{path}:20:11: 'name' in digest 'Bad Name': 'Bad Name' is not a valid digest name: use lowercase letters, "
        "digits, '-' and '_' (it becomes a folder name)",
        f"{path}:21:14: 'webhook' in digest 'Bad Name': set exactly one of 'url' and 'url_env' (the name of a "
        "variable holding the URL)",
        f"{path}:21:54: digest 'Bad Name': environment variable HOOK is not set (webhook.url_env)",
        f"{path}:23:21: 'alerts.defaults.alpha': expected less than 0.5, found the number 0.7",
        f"{path}:25:13: unknown key 'cooldwn' in 'alerts.topics.story' (did you mean 'cooldown'?)",
        f"{path}:26:5: 'alerts.topics' names unknown topic 'nope' (defined topics: story, other)",
    ]
    assert not any("hunter2" in line for line in lines(path, env))


def test_set_secrets_are_accepted_and_never_printed(tmp_path):
    path = write(
        tmp_path,
        """\
        digests:
          - name: morning
            email: {host: smtp.example.org, user_env: SMTP_USER, password_env: SMTP_PASSWORD, from: a@b.org, to: [c@d.org]}
        alerts:
          webhook: {url_env: ALERT_HOOK}
        """,  # noqa: E501 (the line and column numbers below are of this YAML as written)
    )
    env = {
        "SMTP_USER": "u",
        "SMTP_PASSWORD": "pw-value",
        "ALERT_HOOK": "https://hooks.example.org/T/SECRET",
    }
    assert lines(path, env) == []
    assert lines(path, {}) == [
        f"{path}:8:47: digest 'morning': environment variable SMTP_USER is not set (email.user_env)",
        f"{path}:8:72: digest 'morning': environment variable SMTP_PASSWORD is not set (email.password_env)",
        f"{path}:10:22: alerts: environment variable ALERT_HOOK is not set (webhook.url_env)",
    ]
    load_config(path, env={})  # running without them is allowed: the send fails, in words, later


def test_the_commented_example_in_the_shipped_feeds_yaml_is_valid(tmp_path):
    text = (REPO / "feeds.yaml").read_text(encoding="utf-8")
    block = text[text.index("\n# digests:\n") + 1 :]
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") else line.lstrip("#") for line in block.splitlines()
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(text + "\n" + uncommented + "\n", encoding="utf-8")
    env = {
        "SMTP_USER": "u",
        "SMTP_PASSWORD": "p",
        "SLACK_WEBHOOK_URL": "https://hooks.example.org/x",
    }
    assert lines(path, env) == []
    config = load_config(path, env=env)
    (digest,) = config.digests
    assert digest.name == "morning" and digest.email.to == ["newsdesk@example.org"]
    assert config.alerts.for_topic("russia-sanctions").cooldown == timedelta(hours=6)


# --- schedules ------------------------------------------------------------------------------

WEDNESDAY = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)


def fires(expr: str, tz: str = "UTC", n: int = 7, start: datetime = WEDNESDAY) -> list[datetime]:
    trigger = cron_trigger(expr, tz)
    out, prev, now = [], None, start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        out.append(nxt)
        prev, now = nxt, nxt + timedelta(seconds=1)
    return out


@pytest.mark.parametrize(
    "field, days",
    [
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("sun", ["Sun"]),
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("5-7", ["Fri", "Sat", "Sun"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("mon,wed", ["Mon", "Wed"]),
        ("*", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ],
)
def test_weekdays_count_from_sunday_as_in_crontab(field, days):
    got = {f.strftime("%a") for f in fires(f"0 7 * * {field}", n=14)}
    assert got == set(days)


def test_a_schedule_keeps_its_local_time_across_dst():
    before = datetime(2026, 3, 27, 12, tzinfo=UTC)  # Europe/Berlin moves to summer time on 29 March
    local = [
        f.astimezone().astimezone(f.tzinfo)
        for f in fires("0 7 * * *", "Europe/Berlin", n=4, start=before)
    ]
    assert [f.strftime("%d %H:%M") for f in local] == [
        "28 07:00",
        "29 07:00",
        "30 07:00",
        "31 07:00",
    ]
    assert [f.astimezone(UTC).hour for f in local] == [6, 5, 5, 5]


def test_config_check_lists_each_digest_and_where_it_goes(tmp_path, capsys):
    from monitor.cli import main

    path = write(
        tmp_path,
        """\
        digests:
          - name: morning
            timezone: Europe/Berlin
            email: {host: smtp.example.org, from: a@b.org, to: [c@d.org, e@f.org]}
            webhook: {url: "https://hooks.example.org/x", format: slack}
        """,
    )
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        f"  digest morning: '0 7 * * *' in Europe/Berlin -> files in {tmp_path / 'storage' / 'digests'}, "
        "e-mail to 2 via smtp.example.org:587 (starttls), webhook (slack)"
    ) in out
