"""Fuzzing what users and providers control, with hypothesis (derandomized, no example
database, so every run checks the same examples):

(a) the text query language, with grammar-shaped mutations (tests/domain/test_query.py
    already throws arbitrary text at it);
(b) every option of `gpucm offers`, run in-process against one prepared demo store;
(c) the config file: arbitrary text and bytes, TOML-ish lines, and mutated valid
    configs with a fuzzed environment;
(d) each adapter's offer and instance parsers, with mutated recorded fixtures.

The properties: no traceback ever reaches the user, bad input gets one clear line,
nothing in the store changes, and what is accepted is usable (storable, printable,
re-readable). The number of examples run per target is printed at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gpucm.cli.main import main
from gpucm.cli.parser import build_parser
from gpucm.config import ConfigError, Settings, load_settings
from gpucm.domain.catalog import Catalog
from gpucm.domain.models import CATEGORIES, SORT_KEYS, Instance, Offer, SearchQuery
from gpucm.domain.normalize import normalize_offers
from gpucm.domain.provider_names import KEY_ENV, PROVIDERS, URL_ENV
from gpucm.domain.query import QueryError, format_query, parse_query
from gpucm.engine.refresher import BackoffPolicy
from gpucm.providers import lambdalabs_parse, paperspace_parse, runpod_parse, vastai_parse
from gpucm.providers.errors import BadResponse
from gpucm.store.rows import offer_to_row
from tests.conftest import FIXED_NOW, FIXTURES

SQLITE_MAX_INT = 2**63 - 1
EXAMPLES: Counter[str] = Counter()
CATALOG = Catalog.builtin()


def fuzz(max_examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def report_examples(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not EXAMPLES:
        return
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        reporter.write_line("")
        reporter.write_sep("-", "fuzz examples run")
        for target, count in sorted(EXAMPLES.items()):
            reporter.write_line(f"{target}: {count}")
        reporter.write_line(f"total: {sum(EXAMPLES.values())}")


def assert_one_clean_line(message: str) -> None:
    assert message.strip(), "an empty message"
    assert len(message.splitlines()) == 1, f"not one line: {message!r}"
    assert message.isprintable(), f"unprintable characters: {message!r}"
    assert len(message) < 500, f"{len(message)} characters"


# -- (a) the query language -------------------------------------------------------------

KEY_WORDS = (
    *("gpu", "model", "gpus", "category", "cat", "count", "n", "gpu_count", "price"),
    *("ram", "storage", "disk", "vram", "gpu_mem", "cuda", "perf", "performance"),
    *("rel", "reliability", "region", "regions", "provider", "providers", "available"),
    *("sort", "limit", "offset", "all"),
)
SPECIAL_NUMBERS = (
    *("inf", "-inf", "+inf", "Infinity", "nan", "1e400", "-1e400", "1e-400", "-0", "0."),
    *(".5", "5.", "1_000", "0x10", "1e", "e5", "١٢", "１２", "9" * 40, "-" + "9" * 40),
    *("95%", "101%", "-5%", "%", "0.5%", "$2", "$", "$-1", "32gb", "32 GiB", "4g", "gb"),
    *(str(SQLITE_MAX_INT), str(SQLITE_MAX_INT + 1), str(2**64), "10000000000000000000000"),
)
WORDS = (
    *SORT_KEYS,
    *(f"-{k}" for k in SORT_KEYS),
    *("+price", "perf", "-rel", "--price", "-", "+"),
    *CATEGORIES,
    *PROVIDERS,
    *("vast", "Lambda", "RUNPOD", "ps", "yes", "no", "TRUE", "0", "1", "maybe"),
    *("H100", "RTX 4090", "a100-80g", "US-East", "Europe", "Texas, US"),
)
_numberish = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats().map(repr),
    st.sampled_from(SPECIAL_NUMBERS),
)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_quoted = st.text(max_size=10).map(_quote)
_loose_quotes = st.text(alphabet='"\\ ab,=<>', max_size=8)
_atom = st.one_of(_numberish, st.sampled_from(WORDS), _quoted, _loose_quotes, st.text(max_size=8))
_value = st.one_of(
    st.lists(_atom, max_size=3).map(",".join),
    st.lists(_atom, max_size=3).map("".join),
)
_key = st.one_of(
    st.sampled_from(KEY_WORDS),
    st.sampled_from(KEY_WORDS).map(str.upper),
    st.text(max_size=6),
)
_op = st.sampled_from(("=", "<", "<=", ">", ">=", "==", "=>", "=<", "<>", "><", ""))
_good_op = st.sampled_from(("=", "<", "<=", ">", ">="))
INT_KEYS = ("count", "n", "gpu_count", "limit", "offset")
NUMBER_KEYS = (
    *("price", "ram", "storage", "disk", "vram", "gpu_mem", "cuda", "perf"),
    *("performance", "rel", "reliability"),
)
WORD_KEYS = tuple(k for k in KEY_WORDS if k not in INT_KEYS + NUMBER_KEYS)
# Well-formed keys and operators with values of the key's type (and its edges), so the
# value checks are reached, not only the tokenizer.
_typed_token = st.one_of(
    st.tuples(
        st.sampled_from(INT_KEYS),
        _good_op,
        st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70).map(str),
            st.sampled_from(SPECIAL_NUMBERS),
        ),
    ).map("".join),
    st.tuples(st.sampled_from(NUMBER_KEYS), _good_op, _numberish).map("".join),
    st.tuples(
        st.sampled_from(WORD_KEYS),
        _good_op,
        st.one_of(
            _value, st.lists(st.sampled_from(WORDS) | _quoted, min_size=1, max_size=3).map(",".join)
        ),
    ).map("".join),
)
_token = st.one_of(
    _typed_token,
    st.tuples(_key, _op, _value).map("".join),
    st.sampled_from(("all", "ALL", "gpu", "price<", "=", ",", '"', "all=yes", '"gpu"=x')),
)
_gap = st.sampled_from((" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028"))
VALID_QUERIES = (
    'gpu="RTX 4090",A100 price<2 ram>=32 region=US-East,Europe sort=-performance',
    "gpu=H100 count>=8 price<=30 provider=vast,runpod all sort=value limit=5",
    "cat=datacenter vram>=80gb rel>=95% cuda>=12.1 perf>10 offset=20",
    'region="Texas, US" disk>=500 gpu_mem>=24 available=no sort=+ram',
    'gpu="a\\"b",x\\y n>3 price>=0.5 price<=1e3 providers=ps',
)
_EDIT_CHARS = ' ,"\\=<>%$-+.0123456789aZ\t\n'


@st.composite
def edited_queries(draw: st.DrawFn) -> str:
    """A valid query with a few character edits: inserted, deleted or swapped."""
    text = draw(st.sampled_from(VALID_QUERIES))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        how = draw(st.sampled_from(("insert", "delete", "swap", "repeat")))
        if how == "insert":
            text = text[:at] + draw(st.sampled_from(_EDIT_CHARS)) + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + 1 :]
        elif how == "swap" and at + 1 < len(text):
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        else:
            text = text[:at] + text[at : at + 4] + text[at:]
    return text


query_texts = st.one_of(
    edited_queries(),
    st.lists(st.tuples(_token, _gap), max_size=6).map(
        lambda parts: "".join(token + gap for token, gap in parts)
    ),
    # mostly well-formed: a query fails at its first bad token, and the later checks
    # (validation, printing) are only reached when every token parses
    st.lists(_typed_token, min_size=1, max_size=3).map(" ".join),
)
BASES = (
    SearchQuery(),
    SearchQuery(
        gpu_models=("H100",),
        regions=("Europe",),
        providers=("runpod",),
        min_price=0.5,
        max_price=3.0,
        min_gpu_count=2,
        available=False,
        sort_by="value",
        sort_order="desc",
        limit=10,
        offset=5,
    ),
)


@fuzz(1000)
@given(text=query_texts, base=st.sampled_from(BASES))
def test_query_mutations_give_a_query_or_one_line_error(text: str, base: SearchQuery) -> None:
    EXAMPLES["(a) query text, grammar-shaped"] += 1
    outcome: SearchQuery | QueryError
    try:
        outcome = parse_query(text, base)
    except QueryError as err:
        outcome = err
    event("QueryError" if isinstance(outcome, QueryError) else "parsed")
    if isinstance(outcome, QueryError):
        assert_one_clean_line(str(outcome))
        assert isinstance(outcome.token, str)
        return
    query = outcome
    assert isinstance(query, SearchQuery)
    # what is accepted prints canonically, reads back the same, and fits the store
    printed = format_query(query)
    assert parse_query(printed) == query, printed
    for number in (query.min_gpu_count, query.limit, query.offset):
        assert number is None or number <= SQLITE_MAX_INT, text
    for price in (query.min_price, query.max_price):
        assert price is None or not math.isnan(price)


# -- (b) every option of `gpucm offers` ---------------------------------------------------

_CLI_KEY_VARS = (*KEY_ENV.values(), *URL_ENV.values(), "GPUCM_DB", "LOG_LEVEL")


def offers_options() -> list[argparse.Action]:
    """Every option `gpucm offers` takes, read from the parser itself (so a new flag is
    fuzzed too); the store options are the test's own, and the logging ones (--debug
    writes DEBUG lines to stderr, which is their point) are tested in test_conventions."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    offers: argparse.ArgumentParser = sub.choices["offers"]
    own = ("help", "db", "demo", "debug", "log_file")
    return [a for a in offers._actions if a.option_strings and a.dest not in own]


OPTIONS = offers_options()
SPECIAL_INTS = ("1_000", " 5 ", "5.0", "0x5", "１２", "-0", "+3", "", " ", "1e3", "two")
SPECIAL_FLOATS = (
    *("nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "0", "-0.0"),
    *("1_0.5", " 2 ", "0x1p3", "１.５", "", "$2", "2,5", "3e", "tiny"),
)


def option_values(action: argparse.Action) -> st.SearchStrategy[str]:
    junk = st.text(max_size=12)
    if action.choices is not None:
        choices = [str(c) for c in action.choices]
        return st.one_of(st.sampled_from(choices), st.sampled_from(choices).map(str.upper), junk)
    if action.type is int:
        ints = st.integers(min_value=-(2**64), max_value=2**64).map(str)
        return st.one_of(ints, st.sampled_from(SPECIAL_INTS), junk)
    if action.type is float:
        floats = st.floats().map(repr)
        return st.one_of(floats, st.sampled_from(SPECIAL_FLOATS), junk)
    if action.dest == "query":
        return st.one_of(query_texts, junk)
    return st.one_of(st.sampled_from(WORDS), junk)


def option_args(action: argparse.Action) -> st.SearchStrategy[list[str]]:
    flag = st.sampled_from(action.option_strings)
    if action.nargs == 0:
        return flag.map(lambda f: [f])
    pair = st.tuples(flag, option_values(action))
    return st.one_of(pair.map(lambda p: [p[0], p[1]]), pair.map(lambda p: [f"{p[0]}={p[1]}"]))


cli_flags = st.lists(st.sampled_from(OPTIONS).flatmap(option_args), max_size=5).map(
    lambda groups: [arg for group in groups for arg in group]
)


@dataclass(frozen=True)
class DemoStore:
    path: Path
    fingerprint: tuple[Any, ...]


def store_fingerprint(path: Path) -> tuple[Any, ...]:
    with closing(sqlite3.connect(path)) as conn:
        offers = conn.execute(
            "SELECT count(*), total(price_per_hour), total(gpu_count), total(length(id)),"
            " max(fetched_at), total(available) FROM offers"
        ).fetchone()
        health = conn.execute(
            "SELECT provider, status, last_attempt_at, offer_count FROM provider_health"
            " ORDER BY provider"
        ).fetchall()
        history = conn.execute("SELECT count(*) FROM price_history").fetchone()
    return (tuple(offers), tuple(map(tuple, health)), tuple(history))


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """main() in-process; whatever it raises is a traceback the user would see."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        code = main(argv)
    finally:
        root.handlers[:] = handlers  # main() installs its own stderr handler
        root.setLevel(level)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    root = tmp_path_factory.mktemp("fuzz-cli")
    path = root / "demo.db"
    saved = logging.getLogger().handlers[:]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GPUCM_HOME", str(root / "home"))
        for var in _CLI_KEY_VARS:
            mp.delenv(var, raising=False)
        try:
            code = main(["refresh", "--db", str(path), "--demo"])
        finally:
            logging.getLogger().handlers[:] = saved
    assert code == 0
    fingerprint = store_fingerprint(path)
    assert fingerprint[0][0] > 100, "the demo market has offers"
    return DemoStore(path, fingerprint)


@fuzz(150)
@given(flags=cli_flags)
def test_offers_flags_exit_0_or_2_with_one_line(
    flags: list[str], demo_store: DemoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    EXAMPLES["(b) gpucm offers flags"] += 1
    argv = ["offers", *flags, "--db", str(demo_store.path), "--demo"]
    code, out, err = run_cli(capsys, argv)
    event(f"exit status {code}")
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        assert_one_clean_line(err.rstrip("\n"))
        assert err.startswith("gpucm"), err
        assert out == ""
    elif "--json" in flags:
        assert isinstance(json.loads(out), list)
    assert store_fingerprint(demo_store.path) == demo_store.fingerprint, argv


@pytest.mark.parametrize("flag", ["--limit", "--offset", "--min-gpu-count"])
def test_offers_integer_flags_past_sqlite_range_are_a_usage_error(
    flag: str, demo_store: DemoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["offers", flag, str(2**64), "--json", "--db", str(demo_store.path), "--demo"]
    code, _, err = run_cli(capsys, argv)
    assert code == 2
    assert_one_clean_line(err.rstrip("\n"))


# -- (c) the config file ------------------------------------------------------------------

CONFIG_SECRETS = {name: f"cfg-SECRET-{name}-7c41e09b5a" for name in PROVIDERS}
ENV_SECRETS = {name: f"env-SECRET-{name}-3b9d27f6c1" for name in PROVIDERS}
ALL_SECRETS = (*CONFIG_SECRETS.values(), *ENV_SECRETS.values())


def valid_config() -> dict[str, Any]:
    return {
        "refresh_interval": 60.0,
        "demo_refresh_interval": 15.0,
        "theme": "gpucm-dark",
        "log_level": "INFO",
        "http_timeout": 30.0,
        "webhook_url": "https://hooks.example.test/gpucm",
        "watch_command": "notify-send gpucm",
        "budget": {"max_hourly_usd": 5.0, "monthly_usd": 300.0, "warn_fraction": 0.8},
        "providers": {
            name: {
                "api_key": CONFIG_SECRETS[name],
                "base_url": f"https://{name}.example.test/api",
                "refresh_interval": 120.0,
                "enabled": True,
                "ssh_key_name": "laptop",
            }
            for name in PROVIDERS
        },
    }


_toml_scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=SQLITE_MAX_INT),
    st.floats(),
    st.sampled_from((0.0, -1.0, 4.0, 5.0, 600.0, 601.0, 1e300, 1e-300)),
    st.text(max_size=16),
    st.sampled_from(ALL_SECRETS),
    st.dates(min_value=date(1, 1, 1)),
)
_toml_value = st.recursive(
    _toml_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_config_keys = st.one_of(
    st.sampled_from(
        (
            *("refresh_interval", "demo_refresh_interval", "theme", "log_level"),
            *("http_timeout", "webhook_url", "watch_command", "budget", "providers"),
            *("api_key", "base_url", "enabled", "ssh_key_name", "max_hourly_usd"),
            *("monthly_usd", "warn_fraction", *PROVIDERS, "vast", "lambda", "Lambda-Labs"),
            *("vastt", "RUNPOD ", "a\nb", "", " ", "providers.vast_ai", "[x]", '"'),
        )
    ),
    st.text(max_size=8),
)


def tables(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for value in node.values():
        if isinstance(value, dict):
            found.extend(tables(value))
    return found


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    config = valid_config()
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        table = draw(st.sampled_from(tables(config)))
        keys = sorted(table)
        op = draw(st.sampled_from(("set", "delete", "rename", "add", "wrap")))
        if op == "add" or not keys:
            table[draw(_config_keys)] = draw(_toml_value)
            continue
        key = draw(st.sampled_from(keys))
        if op == "set":
            table[key] = draw(_toml_value)
        elif op == "delete":
            del table[key]
        elif op == "rename":
            table[draw(_config_keys)] = table.pop(key)
        else:
            table[key] = [table[key]] if draw(st.booleans()) else {"value": table[key]}
    return config


_env_value = st.one_of(
    st.text(max_size=12), st.sampled_from(("", " ", "0", "-1", "nan", "inf", "1e9", "0.001"))
)


@st.composite
def fuzzed_env(draw: st.DrawFn) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(PROVIDERS), unique=True, max_size=4)):
        env[KEY_ENV[name]] = draw(st.one_of(st.just(ENV_SECRETS[name]), _env_value))
        if draw(st.booleans()):
            env[URL_ENV[name]] = draw(_env_value)
    if draw(st.booleans()):
        env["GPUCM_HTTP_TIMEOUT"] = draw(_env_value)
    if draw(st.booleans()):
        env["LOG_LEVEL"] = draw(_env_value)
    return env


def check_load(path: Path, env: dict[str, str]) -> str:
    """load_settings gives usable Settings or raises ConfigError: one line, no key."""
    try:
        loaded = load_settings(env, path)
    except ConfigError as err:
        message = str(err)
        assert_one_clean_line(message)
        # a bad value from the environment is blamed on its variable, else on the file
        blamed = message.split(": ", 1)[0]
        assert str(path) in message or (env.get(blamed)), message
        for secret in ALL_SECRETS:
            assert secret not in message, message
        return "ConfigError"
    assert isinstance(loaded, Settings)
    # usable by the engine: every interval and backoff delay is a real duration
    policy = BackoffPolicy()
    for name in PROVIDERS:
        interval = loaded.interval_for(name)
        for failures in range(policy.circuit_threshold + 1):
            FIXED_NOW + timedelta(seconds=policy.delay(interval, failures))
    FIXED_NOW + timedelta(seconds=loaded.demo_refresh_interval)
    assert 0 < loaded.http_timeout <= 600
    assert all(isinstance(s, str) and s for s in loaded.secrets())
    assert not any(secret in repr(loaded) for secret in ALL_SECRETS)
    return "loaded"


@fuzz(300)
@given(config=mutated_configs(), env=fuzzed_env())
def test_mutated_configs_load_or_raise_config_error(
    config: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    EXAMPLES["(c) config, mutated valid file + env"] += 1
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    event(check_load(path, env))


_toml_line = st.one_of(
    st.tuples(_config_keys, st.sampled_from((" = ", "=", " == ", " ")), st.text(max_size=12)).map(
        "".join
    ),
    st.sampled_from(
        (
            "[providers]",
            "[providers.vast_ai]",
            "[providers.vast_ai.api_key]",
            "[[providers]]",
            "[budget]",
            "[",
            'api_key = "cfg-SECRET-vast_ai-7c41e09b5a"',
            'api_key = "cfg-SECRET-runpod-7c41e09b5a',
            "refresh_interval = inf",
            "refresh_interval = nan",
            "http_timeout = 1e400",
            "providers = []",
            "providers = 1",
            'theme = """',
        )
    ),
    st.text(max_size=20),
)
toml_texts = st.lists(_toml_line, max_size=8).map("\n".join)


@fuzz(250)
@given(text=st.one_of(toml_texts, st.text(max_size=60)))
def test_config_text_loads_or_raises_config_error(text: str, tmp_path: Path) -> None:
    EXAMPLES["(c) config, TOML-ish and arbitrary text"] += 1
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    event(check_load(path, {}))


@fuzz(100)
@given(raw=st.binary(max_size=80))
def test_config_bytes_load_or_raise_config_error(raw: bytes, tmp_path: Path) -> None:
    EXAMPLES["(c) config, arbitrary bytes"] += 1
    path = tmp_path / "config.toml"
    path.write_bytes(raw)
    event(check_load(path, {}))


# -- (d) the adapters' parsers ---------------------------------------------------------------

Parse = Callable[[Any], list[Any]]

OFFER_PARSERS: dict[str, tuple[str, Parse]] = {
    "vast_ai": ("vastai/search_offers.json", lambda b: vastai_parse.parse_offers(b, FIXED_NOW)),
    "runpod": (
        "runpod/v2_catalog_gpus_secure_1.json",
        lambda b: runpod_parse.parse_catalog([("SECURE", 1, b)], FIXED_NOW),
    ),
    "lambda_labs": (
        "lambda/instance_types.json",
        lambda b: lambdalabs_parse.parse_offers(b, FIXED_NOW),
    ),
    "paperspace": (
        "paperspace/os_templates.json",
        lambda b: paperspace_parse.parse_offers(b, FIXED_NOW),
    ),
}
INSTANCE_PARSERS: dict[str, tuple[str, Parse]] = {
    "vast_ai": (
        "vastai/instances.json",
        lambda b: vastai_parse.parse_instances(vastai_parse.instances_page(b)[0]),
    ),
    "runpod": ("runpod/v2_pods.json", lambda b: runpod_parse.parse_pods(b, FIXED_NOW)),
    "lambda_labs": ("lambda/instances.json", lambdalabs_parse.parse_instances),
    "paperspace": (
        "paperspace/machines.json",
        lambda b: paperspace_parse.parse_machines_page(b)[0],
    ),
}

HUGE = (
    *(1e308, -1e308, 10**30, -(10**30), 2**63, 2**64, -(2**63) - 1, 1e-320),
    *(float("inf"), float("-inf"), float("nan"), 0, -1, -0.0, 0.5),
    *("1e400", "nan", "inf", "9" * 40, "-1", "", " ", "12abc"),
)
_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(HUGE),
)
json_junk = st.recursive(
    _json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
JsonPath = tuple[Any, ...]


class _Reads(dict[str, Any]):
    """A JSON object that notes every key a parser looks up."""

    seen: ClassVar[set[str]] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.seen.add(key)
        return super().__contains__(key)


def fields_read(fixture: str, parse: Parse) -> tuple[str, ...]:
    """The keys `parse` reads from its recorded fixture: where mutations matter most."""
    _Reads.seen = set()
    parse(json.loads((FIXTURES / fixture).read_text(encoding="utf-8"), object_hook=_Reads))
    return tuple(sorted(_Reads.seen))


def json_paths(node: Any, prefix: JsonPath = ()) -> list[JsonPath]:
    """The path of every value in a JSON tree, the root included."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(json_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(json_paths(value, (*prefix, index)))
    return found


def row_collections(node: Any) -> list[list[dict[str, Any]]]:
    """Lists (or maps) of objects: where a body keeps its rows."""
    found: list[list[dict[str, Any]]] = []
    values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    values = list(values)
    rows = [v for v in values if isinstance(v, dict)]
    if len(rows) >= 2:
        found.append(rows)
    for value in values:
        found.extend(row_collections(value))
    return found


def lookup(root: Any, path: JsonPath) -> Any:
    for part in path:
        root = root[part]
    return root


OFFER_READS = {name: fields_read(*OFFER_PARSERS[name]) for name in PROVIDERS}
INSTANCE_READS = {name: fields_read(*INSTANCE_PARSERS[name]) for name in PROVIDERS}


def key_paths(node: Any, key: str) -> list[JsonPath]:
    return [p for p in json_paths(node) if p and p[-1] == key]


@st.composite
def mutated_bodies(draw: st.DrawFn, fixture: str, read: tuple[str, ...]) -> Any:
    """A recorded body with 1..6 mutations: keys dropped, values nulled, replaced by junk
    or huge numbers, stringified, wrapped, rows duplicated, one field broken in every row
    at once, or (most often) a field the parser reads broken in one row or all."""
    body = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        op = draw(st.sampled_from((*OPS, "field", "field", "field")))
        if op == "field":
            paths = key_paths(body, draw(st.sampled_from(read)))
            if not paths:
                continue
            chosen = paths if draw(st.booleans()) else [draw(st.sampled_from(paths))]
            how = draw(st.sampled_from(("drop", "null", "junk", "huge", "huge", "stringify")))
            value = draw(json_junk if how == "junk" else st.sampled_from(HUGE))
            for path in chosen:
                parent, key = lookup(body, path[:-1]), path[-1]
                if how == "drop":
                    del parent[key]
                elif how == "stringify":
                    parent[key] = str(parent[key])
                else:
                    parent[key] = None if how == "null" else copy.deepcopy(value)
            continue
        if op == "rows":
            collections = row_collections(body)
            if not collections:
                continue
            rows = draw(st.sampled_from(collections))
            field = draw(st.sampled_from(sorted(rows[0]) or ["id"]))
            how = draw(st.sampled_from(("drop", "null", "junk", "huge")))
            value = draw(json_junk if how == "junk" else st.sampled_from(HUGE))
            for row in rows:
                if how == "drop":
                    row.pop(field, None)
                else:
                    row[field] = None if how == "null" else copy.deepcopy(value)
            continue
        path = draw(st.sampled_from(json_paths(body)))
        if not path:
            if op in ("junk", "huge", "null"):
                body = None if op == "null" else draw(json_junk if op == "junk" else _json_scalar)
            continue
        parent, key = lookup(body, path[:-1]), path[-1]
        if op == "drop" or (op == "dup" and not isinstance(parent, list)):
            del parent[key]
        elif op == "null":
            parent[key] = None
        elif op == "junk":
            parent[key] = draw(json_junk)
        elif op == "huge":
            parent[key] = draw(st.sampled_from(HUGE))
        elif op == "stringify":
            parent[key] = json.dumps(parent[key]) if draw(st.booleans()) else str(parent[key])
        elif op == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
        else:
            parent.insert(key, copy.deepcopy(parent[key]))
    return body


OPS = ("drop", "null", "junk", "huge", "stringify", "wrap", "dup", "rows")


def assert_finite_numbers(values: Any, where: str) -> None:
    for value in values:
        if isinstance(value, float):
            assert math.isfinite(value), f"{where}: {value}"
        if isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) <= SQLITE_MAX_INT, f"{where}: {value}"


def _no_constants(name: str) -> Any:
    raise AssertionError(f"provider_data holds {name}, which is not JSON")


def assert_storable(offers: list[Offer]) -> None:
    """The store can hold them and --json can print them: finite numbers that fit
    SQLite, provider data that is strict JSON."""
    rows = [offer_to_row(o, fetched_at=FIXED_NOW.timestamp()) for o in offers]
    for offer, row in zip(offers, rows, strict=True):
        assert_finite_numbers(row, offer.id)
        json.loads(row[-1], parse_constant=_no_constants)
    if rows:
        columns = ", ".join(f"c{i}" for i in range(len(rows[0])))
        with closing(sqlite3.connect(":memory:")) as conn:
            conn.execute(f"CREATE TABLE offers ({columns})")
            conn.executemany(f"INSERT INTO offers VALUES ({','.join('?' * len(rows[0]))})", rows)


def check_offers(provider: str, parse: Parse, body: Any) -> str:
    """Offers the store can hold, or a one-line BadResponse from this provider."""
    outcome: list[Any] | BadResponse
    try:
        outcome = parse(body)
    except BadResponse as err:
        outcome = err
    if isinstance(outcome, BadResponse):
        assert outcome.provider == provider
        assert_one_clean_line(str(outcome))
        return "BadResponse"
    offers = outcome
    assert isinstance(offers, list)
    assert all(isinstance(o, Offer) and o.provider == provider for o in offers)
    assert len({o.id for o in offers}) == len(offers), "duplicate offer ids"
    assert_storable(normalize_offers(offers, CATALOG))
    return "offers" if offers else "no offers"


def check_instances(provider: str, parse: Parse, body: Any) -> str:
    """Instances the store can write and read back, or a one-line BadResponse."""
    outcome: list[Any] | BadResponse
    try:
        outcome = parse(body)
    except BadResponse as err:
        outcome = err
    if isinstance(outcome, BadResponse):
        assert outcome.provider == provider
        assert_one_clean_line(str(outcome))
        return "BadResponse"
    instances = outcome
    assert isinstance(instances, list)
    for instance in instances:
        assert isinstance(instance, Instance) and instance.provider == provider
        # the store keeps instances as JSON: it must read back what it wrote
        assert Instance.model_validate_json(instance.model_dump_json()) == instance
    return "instances" if instances else "no instances"


@pytest.mark.parametrize("provider", PROVIDERS)
@fuzz(200)
@given(data=st.data())
def test_offer_parsers_return_offers_or_raise_bad_response(
    provider: str, data: st.DataObject
) -> None:
    fixture, parse = OFFER_PARSERS[provider]
    body = data.draw(mutated_bodies(fixture, OFFER_READS[provider]), label="body")
    EXAMPLES[f"(d) offer parser, {provider}"] += 1
    event(check_offers(provider, parse, body))


@pytest.mark.parametrize("provider", PROVIDERS)
@fuzz(120)
@given(data=st.data())
def test_instance_parsers_return_instances_or_raise_bad_response(
    provider: str, data: st.DataObject
) -> None:
    fixture, parse = INSTANCE_PARSERS[provider]
    body = data.draw(mutated_bodies(fixture, INSTANCE_READS[provider]), label="body")
    EXAMPLES[f"(d) instance parser, {provider}"] += 1
    event(check_instances(provider, parse, body))


# Every field a parser reads, set to every edge value: in one row, then in every row.
EDGES: tuple[Any, ...] = (*HUGE, None, True, [], {}, "junk", [1, 2], {"a": None})


def sweep_bodies(fixture: str, read: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    pristine = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    for field in read:
        paths = key_paths(pristine, field)
        for value in EDGES:
            for chosen in ([paths[0]], paths) if paths else ():
                body = copy.deepcopy(pristine)
                for path in chosen:
                    lookup(body, path[:-1])[path[-1]] = copy.deepcopy(value)
                yield f"{field}={value!r} in {len(chosen)} place(s)", body


@pytest.mark.parametrize("kind", ["offers", "instances"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_parsers_survive_every_edge_value_in_every_field_they_read(
    provider: str, kind: str
) -> None:
    if kind == "offers":
        (fixture, parse), read, check = OFFER_PARSERS[provider], OFFER_READS[provider], check_offers
    else:
        (fixture, parse), read = INSTANCE_PARSERS[provider], INSTANCE_READS[provider]
        check = check_instances
    cases = 0
    for label, body in sweep_bodies(fixture, read):
        try:
            check(provider, parse, body)
        except AssertionError as exc:
            raise AssertionError(f"{provider} {kind}, {label}: {exc}") from exc
        cases += 1
    EXAMPLES[f"(d) edge sweep, {provider} {kind}"] += cases
    assert cases > 100
