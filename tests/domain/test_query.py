from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucm.domain.models import CATEGORIES, SORT_KEYS, STOCK_LEVELS, SearchQuery
from gpucm.domain.provider_names import PROVIDERS
from gpucm.domain.query import QueryError, format_query, parse_query


def test_spec_example() -> None:
    q = parse_query('gpu="RTX 4090",A100 price<2 ram>=32 region=US-East,Europe sort=-performance')
    assert q == SearchQuery(
        gpu_models=("RTX 4090", "A100"),
        max_price=2,
        min_ram=32,
        regions=("US-East", "Europe"),
        sort_by="performance",
        sort_order="desc",
    )


def test_empty_text_returns_base() -> None:
    assert parse_query("") == SearchQuery()
    assert parse_query("   \t\n ") == SearchQuery()
    base = SearchQuery(gpu_models=("H100",), limit=5)
    assert parse_query("", base) is base


def test_format_default_is_empty() -> None:
    assert format_query(SearchQuery()) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpu=A100", SearchQuery(gpu_models=("A100",))),
        ("model=A100 gpus=H100", SearchQuery(gpu_models=("A100", "H100"))),
        ("GPU=a100", SearchQuery(gpu_models=("a100",))),
        ("category=Datacenter", SearchQuery(gpu_category="datacenter")),
        ("cat=consumer", SearchQuery(gpu_category="consumer")),
        ("count>=4", SearchQuery(min_gpu_count=4)),
        ("count>4", SearchQuery(min_gpu_count=5)),
        ("n>=2", SearchQuery(min_gpu_count=2)),
        ("gpu_count>1", SearchQuery(min_gpu_count=2)),
        ("price<2", SearchQuery(max_price=2)),
        ("price<=2", SearchQuery(max_price=2)),
        ("price>0.5", SearchQuery(min_price=0.5)),
        ("price>=0.5 price<=$1.5", SearchQuery(min_price=0.5, max_price=1.5)),
        ("ram>=32", SearchQuery(min_ram=32)),
        ("ram>32gb", SearchQuery(min_ram=32)),
        ("storage>=100", SearchQuery(min_storage=100)),
        ("disk>=100", SearchQuery(min_storage=100)),
        ("vram>=24", SearchQuery(min_gpu_memory=24)),
        ("gpu_mem>=80GB", SearchQuery(min_gpu_memory=80)),
        ("cuda>=12.1", SearchQuery(min_cuda=12.1)),
        ("perf>=50", SearchQuery(min_performance=50)),
        ("performance>=50", SearchQuery(min_performance=50)),
        ("rel>=0.95", SearchQuery(min_reliability=0.95)),
        ("rel>=95%", SearchQuery(min_reliability=0.95)),
        # a bare number above 1 is a percentage, as in the filter builder
        ("rel>=95", SearchQuery(min_reliability=0.95)),
        ("reliability>0.9", SearchQuery(min_reliability=0.9)),
        ("region=US-East,Europe", SearchQuery(regions=("US-East", "Europe"))),
        ("regions=us-east-1", SearchQuery(regions=("us-east-1",))),
        ("provider=vast,LAMBDA", SearchQuery(providers=("vast_ai", "lambda_labs"))),
        ("providers=runpod.io", SearchQuery(providers=("runpod",))),
        ("available=no", SearchQuery(available=False)),
        ("available=YES", SearchQuery(available=True)),
        ("available=0", SearchQuery(available=False)),
        ("all", SearchQuery(available=False)),
        ("ALL", SearchQuery(available=False)),
        ("sort=value", SearchQuery(sort_by="value")),
        ("sort=-perf", SearchQuery(sort_by="performance", sort_order="desc")),
        ("sort=+rel", SearchQuery(sort_by="reliability")),
        ("sort=count", SearchQuery(sort_by="gpu_count")),
        ("SORT=-RAM", SearchQuery(sort_by="ram", sort_order="desc")),
        ("limit=10 offset=20", SearchQuery(limit=10, offset=20)),
        ("avail>=low", SearchQuery(min_availability="low")),
        ("AVAIL>=High", SearchQuery(min_availability="high")),
        ("avail>low", SearchQuery(min_availability="medium")),
        ("availability>=medium", SearchQuery(min_availability="medium")),
        ("spot", SearchQuery(sort_by="spot")),
        ("sort=-spot", SearchQuery(sort_by="spot", sort_order="desc")),
        ("all avail>=low", SearchQuery(available=False, min_availability="low")),
        ('gpu="RTX 4090"', SearchQuery(gpu_models=("RTX 4090",))),
        ('gpu="a,b"', SearchQuery(gpu_models=("a,b",))),
        (r'gpu="say \"hi\""', SearchQuery(gpu_models=('say "hi"',))),
        (r'gpu="back\\slash"', SearchQuery(gpu_models=("back\\slash",))),
        (r"gpu=back\slash", SearchQuery(gpu_models=("back\\slash",))),
        ('gpu=RTX" 4090"', SearchQuery(gpu_models=("RTX 4090",))),
        ('gpu="x=y<z>"', SearchQuery(gpu_models=("x=y<z>",))),
        ("gpu=a,,b,", SearchQuery(gpu_models=("a", "b"))),
        ("price<inf", SearchQuery(max_price=math.inf)),
        ("ram>=1e3", SearchQuery(min_ram=1000)),
    ],
)
def test_parse(text: str, expected: SearchQuery) -> None:
    assert parse_query(text) == expected


def test_repeated_list_key_appends_scalar_overrides() -> None:
    q = parse_query("gpu=A100 price<3 gpu=H100,A100 price<2 sort=-price sort=value")
    assert q.gpu_models == ("A100", "H100")
    assert q.max_price == 2
    assert (q.sort_by, q.sort_order) == ("value", "asc")


def test_tokens_update_base() -> None:
    base = SearchQuery(gpu_models=("A100",), regions=("Europe",), max_price=3, limit=5)
    q = parse_query("gpu=H100 gpu=L40S price>1", base)
    # the text's list replaces the base list; untouched fields are kept
    assert q.gpu_models == ("H100", "L40S")
    assert q.regions == ("Europe",)
    assert (q.min_price, q.max_price, q.limit) == (1, 3, 5)


@pytest.mark.parametrize(
    ("text", "token", "fragment"),
    [
        ("colour=red", "colour=red", "unknown filter 'colour' in 'colour=red' (filters: gpu,"),
        ("gpu=A100 ram<32", "ram<32", "ram takes > or >="),
        ("price=2", "price=2", "price takes <"),
        ("gpu>2", "gpu>2", "gpu takes ="),
        ("count=4", "count=4", "count takes >"),
        ("gpu=", "gpu=", "missing value"),
        ("gpu=,", "gpu=,", "missing value"),
        ("price", "price", "missing operator"),
        ("ram>=lots", "ram>=lots", "expected a number"),
        ("count>=2.5", "count>=2.5", "whole number"),
        ("price<nan", "price<nan", "expected a price"),
        ("limit=ten", "limit=ten", "whole number"),
        ("category=gaming", "category=gaming", "unknown category 'gaming'"),
        ("sort=colour", "sort=colour", "unknown sort key 'colour'"),
        ("sort=--price", "sort=--price", "unknown sort key"),
        ('gpu="RTX 4090', 'gpu="RTX 4090', "unterminated quote"),
        ('gpu="RTX 4090\\"', 'gpu="RTX 4090\\"', "unterminated quote"),
        ("price>5 price<2", "price<2", "price range is empty"),
        ("provider=aws", "provider=aws", "unknown provider 'aws'"),
        ("available=maybe", "available=maybe", "yes or no"),
        ("rel>=150", "rel>=150", "reliability"),
        ("rel>=150%", "rel>=150%", "reliability"),
        ("count>=0", "count>=0", "count must be at least 1"),
        ("limit=0", "limit=0", "limit must be at least 1"),
        ("offset=-1", "offset=-1", "offset must be at least 0"),
        ("price<-1", "price<-1", "price must be at least 0"),
        ("gpu==A100", "gpu==A100", "unknown operator '=='"),
        ("gpu=a=b", "gpu=a=b", "quote values"),
        ("=A100", "=A100", "missing filter name"),
        ("A100", "A100", "expected key=value"),
        ('"gpu"=A100', '"gpu"=A100', "expected key=value"),
        ("all=yes", "all=yes", "takes no value"),
        ("spot=yes", "spot=yes", "takes no value"),
        ("avail>=unknown", "avail>=unknown", "unknown is no level"),
        ("avail=low", "avail=low", "avail takes > or >="),
        ("avail>high", "avail>high", "nothing is above high"),
        ("avail>=lots", "avail>=lots", "unknown stock level 'lots'"),
        ("price<1,2", "price<1,2", "one value"),
        ("count>=" + "9" * 5000, "count>=" + "9" * 5000, "too large"),
    ],
)
def test_errors_are_one_line_and_name_the_token(text: str, token: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(text)
    message = str(info.value)
    assert fragment in message
    assert info.value.token == token
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


def test_error_message_escapes_control_characters() -> None:
    with pytest.raises(QueryError) as info:
        parse_query('gpu="a\nb\u2028c')
    assert len(str(info.value).splitlines()) == 1


def test_min_above_max_against_base_is_clean() -> None:
    with pytest.raises(QueryError, match="price range is empty"):
        parse_query("price>5", SearchQuery(max_price=2))


@pytest.mark.parametrize(
    ("query", "text"),
    [
        (SearchQuery(), ""),
        (SearchQuery(available=False), "all"),
        (SearchQuery(min_ram=32.0), "ram>=32"),
        (SearchQuery(min_reliability=0.95), "rel>=0.95"),
        (SearchQuery(max_price=2.0, min_price=0.5), "price>=0.5 price<=2"),
        (SearchQuery(sort_by="value", sort_order="desc"), "sort=-value"),
        (SearchQuery(sort_by="price", sort_order="desc"), "sort=-price"),
        (SearchQuery(gpu_models=("RTX 4090", "A100")), 'gpu="RTX 4090",A100'),
        (SearchQuery(providers=("vast_ai", "lambda_labs")), "provider=vast,lambda"),
        (SearchQuery(gpu_models=('a"b',)), r'gpu="a\"b"'),
        (SearchQuery(gpu_models=("x=1",)), 'gpu="x=1"'),
        (
            SearchQuery(
                offset=5,
                limit=10,
                sort_by="gpu_count",
                available=False,
                providers=("runpod",),
                regions=("Europe",),
                min_reliability=0.9,
                min_performance=40,
                min_cuda=12.2,
                min_gpu_memory=24,
                min_storage=100,
                min_ram=64,
                max_price=3,
                min_price=1,
                min_gpu_count=2,
                gpu_category="datacenter",
                gpu_models=("H100",),
            ),
            "gpu=H100 category=datacenter count>=2 price>=1 price<=3 ram>=64 storage>=100 "
            "vram>=24 cuda>=12.2 perf>=40 rel>=0.9 region=Europe provider=runpod all "
            "sort=gpu_count limit=10 offset=5",
        ),
    ],
)
def test_format(query: SearchQuery, text: str) -> None:
    assert format_query(query) == text
    assert parse_query(text) == query


# --- properties -----------------------------------------------------------------------

_TRICKY = st.sampled_from(list(" ,\"\\=<>'-+%$\t\n\u00a0\u2028é漢😀"))
_term = st.one_of(
    st.text(min_size=1, max_size=20),
    st.text(st.one_of(_TRICKY, st.characters(codec="utf-8")), min_size=1, max_size=12),
)
_number = st.floats(min_value=0, allow_nan=False)


@st.composite
def search_queries(draw: st.DrawFn) -> SearchQuery:
    prices = sorted(draw(st.lists(_number, min_size=2, max_size=2)))
    low = prices[0] if draw(st.booleans()) else None
    high = prices[1] if draw(st.booleans()) else None
    return SearchQuery(
        available=draw(st.booleans()),
        gpu_models=tuple(draw(st.lists(_term, max_size=4))),
        gpu_category=draw(st.none() | st.sampled_from(CATEGORIES)),
        min_gpu_count=draw(st.none() | st.integers(min_value=1, max_value=10**12)),
        min_price=low,
        max_price=high,
        min_ram=draw(st.none() | _number),
        min_storage=draw(st.none() | _number),
        regions=tuple(draw(st.lists(_term, max_size=4))),
        min_reliability=draw(st.none() | st.floats(min_value=0, max_value=1)),
        min_performance=draw(st.none() | _number),
        providers=tuple(draw(st.lists(st.sampled_from(PROVIDERS), max_size=4))),
        min_gpu_memory=draw(st.none() | _number),
        min_cuda=draw(st.none() | _number),
        min_availability=draw(st.none() | st.sampled_from(STOCK_LEVELS)),
        sort_by=draw(st.sampled_from(SORT_KEYS)),
        sort_order=draw(st.sampled_from(("asc", "desc"))),
        limit=draw(st.none() | st.integers(min_value=1, max_value=10**12)),
        offset=draw(st.integers(min_value=0, max_value=10**12)),
    )


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(search_queries())
def test_round_trip(query: SearchQuery) -> None:
    text = format_query(query)
    assert parse_query(text) == query
    assert format_query(parse_query(text)) == text
    assert "\n" not in text


_list_bases = st.builds(
    SearchQuery,
    gpu_models=st.lists(_term, max_size=3).map(tuple),
    regions=st.lists(_term, max_size=3).map(tuple),
    providers=st.lists(st.sampled_from(PROVIDERS), max_size=3).map(tuple),
)


@settings(max_examples=200)
@given(search_queries(), _list_bases)
def test_printed_lists_replace_the_base_lists(query: SearchQuery, base: SearchQuery) -> None:
    parsed = parse_query(format_query(query), base)
    for field in ("gpu_models", "regions", "providers"):
        expected = getattr(query, field) or getattr(base, field)
        assert getattr(parsed, field) == expected


_query_chars = st.one_of(
    st.sampled_from(list(' ,"\\=<>%$-+.0123456789')),
    st.sampled_from(["gpu", "price", "ram", "rel", "all", "sort", "count", "provider", "inf"]),
    st.characters(),
)


@settings(max_examples=500)
@given(st.one_of(st.text(), st.lists(_query_chars, max_size=30).map("".join)))
def test_parse_never_raises_anything_but_query_error(text: str) -> None:
    outcome: SearchQuery | QueryError
    try:
        outcome = parse_query(text)
    except QueryError as err:
        outcome = err
    if isinstance(outcome, QueryError):
        assert len(str(outcome).splitlines()) == 1
        assert isinstance(outcome.token, str)
    else:
        assert isinstance(outcome, SearchQuery)


def test_fits_takes_a_whole_workload_and_prints_it_back() -> None:
    query = parse_query("gpu=H100 fits=70b@BF16,ctx=32768,train")
    assert query.fits == "70B@bf16,ctx=32k,train"
    assert format_query(query) == "gpu=H100 fits=70B@bf16,ctx=32k,train"
    assert parse_query(format_query(query)) == query
    assert parse_query('fits="8B@fp8, ctx=4k"').fits == "8B@fp8,ctx=4k"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("fits=70B@bf17", "unknown precision"),
        ("fits=", "missing the model size"),
        ("fits>70B", "fits takes ="),
    ],
)
def test_a_bad_workload_is_one_line_naming_the_term(text: str, needle: str) -> None:
    with pytest.raises(QueryError, match=needle) as caught:
        parse_query(text)
    assert "\n" not in str(caught.value)
