from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucm.domain import regions
from gpucm.domain.regions import REGION_GROUPS, country_of, expand_region_terms, region_group

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"

# Every region string the fixtures contain, with the group it must land in.
FIXTURE_GROUPS: dict[str, str | None] = {
    # Vast.ai geolocation
    "Texas, US": "US-Central",
    "Quebec, CA": "Canada",
    "Florida, US": "US-East",
    "Slovenia, SI": "Europe",
    "Romania, RO": "Europe",
    "Oregon, US": "US-West",
    "British Columbia, CA": "Canada",
    "Germany, DE": "Europe",
    "Taiwan, TW": "Asia",
    # RunPod data centers and community country codes
    "US-KS-2": "US-Central",
    "EU-RO-1": "Europe",
    "CA-MTL-1": "Canada",
    "US-TX-3": "US-Central",
    "US-CA-2": "US-West",
    "EU-SE-1": "Europe",
    "EUR-IS-1": "Europe",
    "RO": "Europe",
    "US": None,
    # Lambda region names and their descriptions
    "us-east-1": "US-East",
    "us-west-1": "US-West",
    "us-west-2": "US-West",
    "us-west-3": "US-West",
    "us-south-2": "US-Central",
    "us-south-3": "US-Central",
    "us-midwest-1": "US-Central",
    "europe-central-1": "Europe",
    "asia-northeast-1": "Asia",
    "asia-northeast-2": "Asia",
    "asia-south-1": "Asia",
    "me-west-1": "Middle East",
    "australia-east-1": "Oceania",
    "Virginia, USA": "US-East",
    "California, USA": "US-West",
    "Arizona, USA": "US-West",
    "Utah, USA": "US-West",
    "North Texas, USA": "US-Central",
    "Central Texas, USA": "US-Central",
    "Illinois, USA": "US-Central",
    "Osaka, Japan": "Asia",
    "Tokyo, Japan": "Asia",
    "Sydney, Australia": "Oceania",
    "India": "Asia",
    "Germany": "Europe",
    "Israel": "Middle East",
    # Paperspace
    "East Coast (NY2)": "US-East",
    "West Coast (CA1)": "US-West",
    "Europe (AMS1)": "Europe",
}


def _walk(node: Any, key: str | None = None) -> list[tuple[str | None, Any]]:
    found: list[tuple[str | None, Any]] = [(key, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            found.extend(_walk(v, k))
    elif isinstance(node, list):
        for v in node:
            found.extend(_walk(v, key))
    return found


def _fixture_region_strings() -> set[str]:
    strings: set[str] = set()
    for path in FIXTURES.glob("*/*.json"):
        for key, value in _walk(json.loads(path.read_text())):
            is_id = key in ("geolocation", "region_name", "dataCenterId", "location")
            is_name = key in ("region", "regions", "dataCenterIds")
            if (is_id or is_name) and isinstance(value, str):
                strings.add(value)
            elif key in ("region", "regions_with_capacity_available") and isinstance(value, dict):
                strings.update(v for k, v in value.items() if k in ("name", "description"))
            elif key == "dataCenters" and isinstance(value, dict) and "id" in value:
                strings.add(value["id"])
    return strings


def test_fixture_strings_are_all_covered() -> None:
    strings = _fixture_region_strings()
    assert strings, "no region strings found in the fixtures"
    assert strings <= set(FIXTURE_GROUPS), sorted(strings - set(FIXTURE_GROUPS))


@pytest.mark.parametrize(("region", "group"), sorted(FIXTURE_GROUPS.items()))
def test_fixture_regions_map_to_groups(region: str, group: str | None) -> None:
    assert region_group(region) == group


@pytest.mark.parametrize(
    ("region", "country"),
    [
        ("Texas, US", "US"),
        ("EU-RO-1", "RO"),
        ("us-east-1", "US"),
        ("Norway", "NO"),
        ("East Coast (NY2)", "US"),
        ("West Coast (CA1)", "US"),
        ("Europe (AMS1)", "NL"),
        ("Quebec, CA", "CA"),
        (", US", "US"),
        ("CA-MTL-1", "CA"),
        ("EUR-IS-1", "IS"),
        ("EU-SE-1", "SE"),
        ("AP-JP-1", "JP"),
        ("OC-AU-1", "AU"),
        ("SEA-SG-1", "SG"),
        ("US-TX-3", "US"),
        ("europe-central-1", "DE"),
        ("me-west-1", "IL"),
        ("North Texas, USA", "US"),
        ("Korea, Republic of", "KR"),
        ("Czechia", "CZ"),
        ("United Kingdom", "GB"),
        ("London, UK", "GB"),
        ("Georgia", "GE"),
        ("Georgia, US", "US"),
        ("US-East", "US"),
        ("Europe", None),
        ("us-south-1", "US"),
    ],
)
def test_country_of(region: str, country: str | None) -> None:
    assert country_of(region) == country


@pytest.mark.parametrize(
    ("region", "group"),
    [
        ("Norway", "Europe"),
        (", US", None),  # a US site with no state: East or West is unknowable
        ("US-TX-3", "US-Central"),
        ("US-GA-1", "US-East"),  # Georgia the state, not Gabon
        ("US-NE-1", "US-Central"),  # Nebraska, not Niger
        ("US-CA-2", "US-West"),
        ("US-OR-1", "US-West"),
        ("US-IL-1", "US-Central"),
        ("US-NC-1", "US-East"),
        ("US-DE-1", "US-East"),
        ("US-WA-1", "US-West"),
        ("EU-SE-1", "Europe"),
        ("EU-NL-1", "Europe"),
        ("EU-CZ-1", "Europe"),
        ("EU-FR-1", "Europe"),
        ("EUR-IS-1", "Europe"),
        ("EUR-NO-1", "Europe"),
        ("AP-JP-1", "Asia"),
        ("OC-AU-1", "Oceania"),
        ("SEA-SG-1", "Asia"),
        ("us-south-1", "US-Central"),
        ("us-east-2", "US-East"),
        ("us-east4", "US-East"),
        ("eu-west-1", "Europe"),
        ("ap-southeast-1", "Asia"),
        ("sa-east-1", "South America"),
        ("ca-central-1", "Canada"),
        ("af-south-1", "Africa"),
        ("me-central-1", "Middle East"),
        ("il-central-1", "Middle East"),
        ("São Paulo, BR", "South America"),
        ("Jalisco, MX", "South America"),
        ("Gauteng, ZA", "Africa"),
        ("Lagos, NG", "Africa"),
        ("Dubai, AE", "Middle East"),
        ("Auckland, NZ", "Oceania"),
        ("Georgia, US", "US-East"),
        ("Washington, US", "US-West"),
        ("Texas", "US-Central"),
        ("New York, New York, US", "US-East"),
        ("Hong Kong", "Asia"),
        ("US-East", "US-East"),
        ("us central", "US-Central"),
        ("South America", "South America"),
        ("Middle East", "Middle East"),
        ("Canada", "Canada"),
    ],
)
def test_region_group_provider_spellings(region: str, group: str | None) -> None:
    assert region_group(region) == group


@pytest.mark.parametrize(
    "garbage",
    [None, "", "   ", ",", ", ,", "-", "--1", "()", "(", ")", "???", "Atlantis", "XX-YY-9", "1234"],
)
def test_garbage_is_none(garbage: str | None) -> None:
    assert region_group(garbage) is None
    assert country_of(garbage) is None


def test_country_argument_is_a_fallback() -> None:
    assert region_group(None, "DE") == "Europe"
    assert region_group("", "Germany") == "Europe"
    assert region_group("nowhere", "JP") == "Asia"
    assert region_group(None, "US") is None
    # the region string wins over a separately given country
    assert region_group("Texas, US", "DE") == "US-Central"
    assert region_group(None, "garbage") is None


def test_every_hosting_country_has_a_group() -> None:
    hosting = [
        "CA",
        "MX",
        "BR",
        "AR",
        "CL",
        "CO",
        "GB",
        "IE",
        "FR",
        "DE",
        "NL",
        "BE",
        "LU",
        "CH",
        "AT",
        "IT",
        "ES",
        "PT",
        "SE",
        "NO",
        "FI",
        "DK",
        "IS",
        "PL",
        "CZ",
        "RO",
        "BG",
        "HU",
        "SK",
        "SI",
        "HR",
        "RS",
        "GR",
        "UA",
        "EE",
        "LV",
        "LT",
        "TR",
        "IL",
        "AE",
        "SA",
        "QA",
        "IN",
        "SG",
        "JP",
        "KR",
        "TW",
        "HK",
        "CN",
        "TH",
        "VN",
        "MY",
        "ID",
        "PH",
        "AU",
        "NZ",
        "ZA",
        "EG",
        "NG",
        "KE",
    ]
    for code in hosting:
        assert region_group(code) in REGION_GROUPS, code
        assert country_of(code) == code


def test_country_tables_are_consistent() -> None:
    codes = [c for group in regions._GROUP_COUNTRIES.values() for c in group.split()]
    assert len(codes) == len(set(codes)), "a country is in two groups"
    assert set(regions._GROUP_COUNTRIES) <= set(REGION_GROUPS)
    assert all(code in regions._KNOWN_COUNTRIES for code in regions._COUNTRY_NAMES.values())
    states = regions._US_STATES
    assert len(states) == 50 + 3  # states + DC, PR, VI
    assert {group for _name, group in states.values()} == set(regions.US_GROUPS)


def test_every_us_state_name_and_code() -> None:
    for code, (name, group) in regions._US_STATES.items():
        assert region_group(f"{name}, US") == group
        assert region_group(f"US-{code}-1") == group
        assert country_of(f"{name}, US") == "US"


def test_region_group_is_cached() -> None:
    region_group.cache_clear()
    region_group("Texas, US")
    region_group("Texas, US")
    assert region_group.cache_info().hits >= 1


@settings(max_examples=300)
@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_never_raises(region: str | None, country: str | None) -> None:
    assert region_group(region, country) in (None, *REGION_GROUPS)
    result = country_of(region)
    assert result is None or (len(result) == 2 and result.isupper())


class TestExpandRegionTerms:
    def test_groups_in_any_spelling(self) -> None:
        for term in ("US-East", "us-east", "US East", "us_east", " US  EAST "):
            assert expand_region_terms([term]) == (("US-East",), ())
        assert expand_region_terms(["south america", "MIDDLE-EAST"]) == (
            ("South America", "Middle East"),
            (),
        )

    def test_us_means_every_us_group(self) -> None:
        assert expand_region_terms(["US"]) == (("US-East", "US-Central", "US-West"), ())
        assert expand_region_terms(["usa"])[0] == ("US-East", "US-Central", "US-West")

    def test_aliases(self) -> None:
        assert expand_region_terms(["EU"]) == (("Europe",), ())
        assert expand_region_terms(["europe"]) == (("Europe",), ())
        assert expand_region_terms(["Asia"]) == (("Asia",), ())
        assert expand_region_terms(["APAC"]) == (("Asia", "Oceania"), ())

    def test_raw_terms_kept(self) -> None:
        groups, raw = expand_region_terms(["us-east-1", "Texas", "DE", "EU-RO-1", "  a   b  "])
        assert groups == ()
        assert raw == ("us-east-1", "Texas", "DE", "EU-RO-1", "a b")

    def test_mixed_deduplicated_in_order(self) -> None:
        groups, raw = expand_region_terms(["Europe", "US-West", "eu", "DE", "DE", "", "  ", "US"])
        assert groups == ("Europe", "US-West", "US-East", "US-Central")
        assert raw == ("DE",)

    def test_empty(self) -> None:
        assert expand_region_terms([]) == ((), ())
        assert expand_region_terms(iter(["asia"])) == (("Asia",), ())

    def test_every_group_name_maps_to_itself(self) -> None:
        for group in REGION_GROUPS:
            assert expand_region_terms([group]) == ((group,), ())
            assert expand_region_terms([group.lower()]) == ((group,), ())
