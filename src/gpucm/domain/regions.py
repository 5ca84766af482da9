"""Region groups: one vocabulary over the providers' own region spellings.

The original API filters by coarse groups ("US-East", "Europe", ...), but every provider
names its locations differently:

- Vast.ai `geolocation`: ``"Texas, US"``, ``"Quebec, CA"``, ``", US"``, ``"Norway"``, null
  (country = text after the last comma, sometimes a bare country name);
- RunPod data centers ``"US-TX-3"``, ``"EU-RO-1"``, ``"CA-MTL-1"``, ``"EUR-IS-1"``,
  ``"AP-JP-1"``, ``"OC-AU-1"``; community cloud gives a bare country code (``"US"``);
- Lambda ``"us-east-1"``, ``"us-south-2"``, ``"europe-central-1"``, ``"me-west-1"`` (and
  descriptions such as ``"North Texas, USA"``);
- Paperspace ``"East Coast (NY2)"``, ``"West Coast (CA1)"``, ``"Europe (AMS1)"``.

Everything here is pure table lookups, so it is cheap enough to run per offer and
never raises on odd input: anything it cannot place comes back as None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

__all__ = [
    "REGION_GROUPS",
    "US_GROUPS",
    "country_of",
    "expand_region_terms",
    "region_group",
]

US_EAST: Final = "US-East"
US_CENTRAL: Final = "US-Central"
US_WEST: Final = "US-West"
CANADA: Final = "Canada"
SOUTH_AMERICA: Final = "South America"
EUROPE: Final = "Europe"
ASIA: Final = "Asia"
OCEANIA: Final = "Oceania"
MIDDLE_EAST: Final = "Middle East"
AFRICA: Final = "Africa"

REGION_GROUPS: tuple[str, ...] = (
    US_EAST,
    US_CENTRAL,
    US_WEST,
    CANADA,
    SOUTH_AMERICA,
    EUROPE,
    ASIA,
    OCEANIA,
    MIDDLE_EAST,
    AFRICA,
)
US_GROUPS: tuple[str, ...] = (US_EAST, US_CENTRAL, US_WEST)

# US states (and DC/territories) -> group. The split follows the time zone that holds
# most of each state's population: Eastern -> US-East, Central -> US-Central,
# Mountain/Pacific/Alaska/Hawaii -> US-West. That matches how the providers name their
# own sites (Lambda calls Arizona and Utah "us-west", Texas "us-south"). States split
# across zones go with their majority: FL, IN, KY, MI -> East; TN, TX, KS, NE, ND, SD
# -> Central; ID, OR -> West. PR and VI sit on Atlantic time, closest to US-East.
_US_STATES: Final[dict[str, tuple[str, str]]] = {
    "AL": ("Alabama", US_CENTRAL),
    "AK": ("Alaska", US_WEST),
    "AZ": ("Arizona", US_WEST),
    "AR": ("Arkansas", US_CENTRAL),
    "CA": ("California", US_WEST),
    "CO": ("Colorado", US_WEST),
    "CT": ("Connecticut", US_EAST),
    "DE": ("Delaware", US_EAST),
    "DC": ("District of Columbia", US_EAST),
    "FL": ("Florida", US_EAST),
    "GA": ("Georgia", US_EAST),
    "HI": ("Hawaii", US_WEST),
    "ID": ("Idaho", US_WEST),
    "IL": ("Illinois", US_CENTRAL),
    "IN": ("Indiana", US_EAST),
    "IA": ("Iowa", US_CENTRAL),
    "KS": ("Kansas", US_CENTRAL),
    "KY": ("Kentucky", US_EAST),
    "LA": ("Louisiana", US_CENTRAL),
    "ME": ("Maine", US_EAST),
    "MD": ("Maryland", US_EAST),
    "MA": ("Massachusetts", US_EAST),
    "MI": ("Michigan", US_EAST),
    "MN": ("Minnesota", US_CENTRAL),
    "MS": ("Mississippi", US_CENTRAL),
    "MO": ("Missouri", US_CENTRAL),
    "MT": ("Montana", US_WEST),
    "NE": ("Nebraska", US_CENTRAL),
    "NV": ("Nevada", US_WEST),
    "NH": ("New Hampshire", US_EAST),
    "NJ": ("New Jersey", US_EAST),
    "NM": ("New Mexico", US_WEST),
    "NY": ("New York", US_EAST),
    "NC": ("North Carolina", US_EAST),
    "ND": ("North Dakota", US_CENTRAL),
    "OH": ("Ohio", US_EAST),
    "OK": ("Oklahoma", US_CENTRAL),
    "OR": ("Oregon", US_WEST),
    "PA": ("Pennsylvania", US_EAST),
    "RI": ("Rhode Island", US_EAST),
    "SC": ("South Carolina", US_EAST),
    "SD": ("South Dakota", US_CENTRAL),
    "TN": ("Tennessee", US_CENTRAL),
    "TX": ("Texas", US_CENTRAL),
    "UT": ("Utah", US_WEST),
    "VT": ("Vermont", US_EAST),
    "VA": ("Virginia", US_EAST),
    "WA": ("Washington", US_WEST),
    "WV": ("West Virginia", US_EAST),
    "WI": ("Wisconsin", US_CENTRAL),
    "WY": ("Wyoming", US_WEST),
    "PR": ("Puerto Rico", US_EAST),
    "VI": ("U.S. Virgin Islands", US_EAST),
}

# ISO 3166-1 alpha-2 codes by group. Judgement calls, so a filter behaves predictably:
# Mexico, Central America and the Caribbean count as "South America" (the group list
# has no Latin America/Central America of its own); Turkey, Cyprus and Russia as Europe;
# Egypt as Africa; the Caucasus and Central Asia as Asia; Guam and the other Pacific
# territories as Oceania. Puerto Rico and the US Virgin Islands are US-East (see above).
# The US itself has no single group: it needs a state (see _US_STATES).
_GROUP_COUNTRIES: Final[dict[str, str]] = {
    US_EAST: "PR VI",
    CANADA: "CA PM",
    SOUTH_AMERICA: (
        "AR BO BR CL CO EC GY PE PY SR UY VE GF FK "
        "MX BZ CR SV GT HN NI PA "
        "AG AI AW BB BL BM BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS SX TC TT VC VG"
    ),
    EUROPE: (
        "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM "
        "IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM TR UA VA XK"
    ),
    ASIA: (
        "AF AM AZ BD BN BT CN GE HK ID IN IO JP KG KH KP KR KZ LA LK MM MN MO MV MY NP PH "
        "PK SG TH TJ TL TM TW UZ VN"
    ),
    OCEANIA: "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV VU WF WS",
    MIDDLE_EAST: "AE BH IL IQ IR JO KW LB OM PS QA SA SY YE",
    AFRICA: (
        "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS "
        "LY MA MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG "
        "YT ZA ZM ZW"
    ),
}

_COUNTRY_GROUP: Final[dict[str, str]] = {
    code: group for group, codes in _GROUP_COUNTRIES.items() for code in codes.split()
}
_KNOWN_COUNTRIES: Final[frozenset[str]] = frozenset({"US", *_COUNTRY_GROUP})

# English country names as Vast.ai and Lambda write them when they give no code, plus
# the usual alternative spellings. Keys are lower-case.
_COUNTRY_NAMES: Final[dict[str, str]] = {
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "canada": "CA",
    "mexico": "MX",
    "brazil": "BR",
    "argentina": "AR",
    "chile": "CL",
    "colombia": "CO",
    "peru": "PE",
    "uruguay": "UY",
    "paraguay": "PY",
    "bolivia": "BO",
    "ecuador": "EC",
    "venezuela": "VE",
    "costa rica": "CR",
    "panama": "PA",
    "guatemala": "GT",
    "dominican republic": "DO",
    "jamaica": "JM",
    "cayman islands": "KY",
    "united kingdom": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "uk": "GB",
    "ireland": "IE",
    "france": "FR",
    "germany": "DE",
    "deutschland": "DE",
    "netherlands": "NL",
    "the netherlands": "NL",
    "holland": "NL",
    "belgium": "BE",
    "luxembourg": "LU",
    "switzerland": "CH",
    "austria": "AT",
    "italy": "IT",
    "spain": "ES",
    "portugal": "PT",
    "sweden": "SE",
    "norway": "NO",
    "finland": "FI",
    "denmark": "DK",
    "iceland": "IS",
    "poland": "PL",
    "czechia": "CZ",
    "czech republic": "CZ",
    "romania": "RO",
    "bulgaria": "BG",
    "hungary": "HU",
    "slovakia": "SK",
    "slovenia": "SI",
    "croatia": "HR",
    "serbia": "RS",
    "bosnia and herzegovina": "BA",
    "montenegro": "ME",
    "north macedonia": "MK",
    "macedonia": "MK",
    "albania": "AL",
    "kosovo": "XK",
    "greece": "GR",
    "cyprus": "CY",
    "malta": "MT",
    "ukraine": "UA",
    "moldova": "MD",
    "belarus": "BY",
    "russia": "RU",
    "russian federation": "RU",
    "estonia": "EE",
    "latvia": "LV",
    "lithuania": "LT",
    "liechtenstein": "LI",
    "monaco": "MC",
    "andorra": "AD",
    "turkey": "TR",
    "türkiye": "TR",
    "turkiye": "TR",
    "israel": "IL",
    "united arab emirates": "AE",
    "uae": "AE",
    "saudi arabia": "SA",
    "qatar": "QA",
    "bahrain": "BH",
    "kuwait": "KW",
    "oman": "OM",
    "jordan": "JO",
    "lebanon": "LB",
    "iraq": "IQ",
    "iran": "IR",
    "india": "IN",
    "pakistan": "PK",
    "bangladesh": "BD",
    "sri lanka": "LK",
    "nepal": "NP",
    "singapore": "SG",
    "japan": "JP",
    "south korea": "KR",
    "korea": "KR",
    "republic of korea": "KR",
    "korea, republic of": "KR",
    "taiwan": "TW",
    "hong kong": "HK",
    "macau": "MO",
    "macao": "MO",
    "china": "CN",
    "thailand": "TH",
    "vietnam": "VN",
    "viet nam": "VN",
    "malaysia": "MY",
    "indonesia": "ID",
    "philippines": "PH",
    "cambodia": "KH",
    "mongolia": "MN",
    "kazakhstan": "KZ",
    "uzbekistan": "UZ",
    "kyrgyzstan": "KG",
    "georgia": "GE",
    "armenia": "AM",
    "azerbaijan": "AZ",
    "australia": "AU",
    "new zealand": "NZ",
    "fiji": "FJ",
    "guam": "GU",
    "south africa": "ZA",
    "egypt": "EG",
    "nigeria": "NG",
    "kenya": "KE",
    "morocco": "MA",
    "tunisia": "TN",
    "algeria": "DZ",
    "ghana": "GH",
    "ethiopia": "ET",
    "tanzania": "TZ",
    "uganda": "UG",
    "rwanda": "RW",
    "senegal": "SN",
    "mauritius": "MU",
    "angola": "AO",
    "namibia": "NA",
    "botswana": "BW",
    "zimbabwe": "ZW",
    "zambia": "ZM",
    "puerto rico": "PR",
}

# Codes people write that are not ISO 3166-1 alpha-2.
_CODE_ALIASES: Final[dict[str, str]] = {"UK": "GB", "EL": "GR", "USA": "US", "UAE": "AE"}

# Provider region ids whose country is not spelled out in the id itself.
_KNOWN_REGIONS: Final[dict[str, tuple[str, str | None]]] = {
    # Lambda Cloud (country from the region's description)
    "europe-central-1": ("DE", None),
    "asia-northeast-1": ("JP", None),
    "asia-northeast-2": ("JP", None),
    "asia-south-1": ("IN", None),
    "australia-east-1": ("AU", None),
    "me-west-1": ("IL", None),
}

# Paperspace data-center codes, the part in parentheses without its number.
_DATACENTER_CODES: Final[dict[str, tuple[str, str | None]]] = {
    "NY": ("US", "NY"),
    "CA": ("US", "CA"),
    "AMS": ("NL", None),
}

# Words that name a place only loosely: a group, maybe a country, never a state.
_PLACE_WORDS: Final[dict[str, tuple[str | None, str]]] = {
    "east coast": ("US", US_EAST),
    "west coast": ("US", US_WEST),
    "us east": ("US", US_EAST),
    "us central": ("US", US_CENTRAL),
    "us west": ("US", US_WEST),
    "europe": (None, EUROPE),
    "eu": (None, EUROPE),
    "asia": (None, ASIA),
    "oceania": (None, OCEANIA),
    "middle east": (None, MIDDLE_EAST),
    "africa": (None, AFRICA),
    "south america": (None, SOUTH_AMERICA),
    "latin america": (None, SOUTH_AMERICA),
}

# First token of a dashed id (RunPod "EU-RO-1", Lambda/cloud style "europe-central-1"):
# the group it implies when the rest does not name a country.
_PREFIX_GROUPS: Final[dict[str, str]] = {
    "eu": EUROPE,
    "eur": EUROPE,
    "europe": EUROPE,
    "ap": ASIA,
    "apac": ASIA,
    "asia": ASIA,
    "sea": ASIA,
    "oc": OCEANIA,
    "oceania": OCEANIA,
    "australia": OCEANIA,
    "me": MIDDLE_EAST,
    "mideast": MIDDLE_EAST,
    "af": AFRICA,
    "africa": AFRICA,
    "sa": SOUTH_AMERICA,
    "southamerica": SOUTH_AMERICA,
    "latam": SOUTH_AMERICA,
}
_PREFIX_COUNTRIES: Final[dict[str, str]] = {
    "us": "US",
    "usa": "US",
    "ca": "CA",
    "canada": "CA",
    "australia": "AU",
}

# Direction words in US ids ("us-east-1", GCP's "us-east4"). "south" and "midwest" are
# Lambda's Texas and Illinois sites, hence Central.
_US_DIRECTIONS: Final[dict[str, str]] = {
    "east": US_EAST,
    "northeast": US_EAST,
    "southeast": US_EAST,
    "central": US_CENTRAL,
    "midwest": US_CENTRAL,
    "south": US_CENTRAL,
    "southcentral": US_CENTRAL,
    "northcentral": US_CENTRAL,
    "west": US_WEST,
    "northwest": US_WEST,
    "southwest": US_WEST,
}


def _state_key(text: str) -> str:
    return " ".join(text.lower().replace(".", "").split())


_STATE_BY_NAME: Final[dict[str, str]] = {
    _state_key(name): code for code, (name, _group) in _US_STATES.items()
}
_QUALIFIERS: Final[frozenset[str]] = frozenset(
    {"north", "south", "east", "west", "central", "northern", "southern", "eastern", "western"}
)
_PAREN = re.compile(r"^(?P<outer>[^()]*)\((?P<code>[^()]*)\)\s*$")

# (country, group) as far as a region string tells.
_Place = tuple[str | None, str | None]
_NOWHERE: Final[_Place] = (None, None)


def _country_code(text: str) -> str | None:
    """An ISO code for a country code or name, else None."""
    key = " ".join(text.split()).strip(" .,")
    if not key:
        return None
    upper = key.upper()
    if upper in _KNOWN_COUNTRIES:
        return upper
    if upper in _CODE_ALIASES:
        return _CODE_ALIASES[upper]
    return _COUNTRY_NAMES.get(key.lower())


def _state_code(text: str) -> str | None:
    key = _state_key(text)
    if key in _STATE_BY_NAME:
        return _STATE_BY_NAME[key]
    if key.upper() in _US_STATES:
        return key.upper()
    # Lambda describes sites as "North Texas" / "Central Texas".
    first, _, rest = key.partition(" ")
    if first in _QUALIFIERS and rest in _STATE_BY_NAME:
        return _STATE_BY_NAME[rest]
    return None


def _group_of_country(country: str | None, state: str | None = None) -> str | None:
    if country is None:
        return None
    if country == "US":
        return _US_STATES[state][1] if state in _US_STATES else None
    return _COUNTRY_GROUP.get(country)


def _place(country: str | None, state: str | None = None) -> _Place:
    return country, _group_of_country(country, state)


def _parse_parenthesised(outer: str, code: str) -> _Place:
    letters = re.sub(r"[^A-Za-z]", "", code).upper()
    if letters in _DATACENTER_CODES:
        return _place(*_DATACENTER_CODES[letters])
    return _parse(outer)


def _parse_commas(text: str) -> _Place:
    parts = [p.strip() for p in text.split(",")]
    parts = [p for p in parts if p]
    # Vast puts the country last; take the last part that is one.
    for index in range(len(parts) - 1, -1, -1):
        country = _country_code(parts[index])
        if country is None:
            continue
        state = None
        if country == "US":
            for other in parts[:index]:
                state = _state_code(other)
                if state:
                    break
        return _place(country, state)
    for part in parts:
        state = _state_code(part)
        if state and len(part) > 2:
            return _place("US", state)
    return _NOWHERE


def _parse_dashed(text: str) -> _Place:
    tokens = [t for t in re.split(r"[-_\s]+", text.lower()) if t]
    # Trailing numbers and GCP-style suffix digits carry no location ("us-east4").
    words = [t.rstrip("0123456789") for t in tokens]
    words = [w for w in words if w]
    if not words:
        return _NOWHERE
    head, rest = words[0], words[1:]
    if head in ("us", "usa"):
        for word in rest:
            if len(word) == 2 and word.upper() in _US_STATES:
                return _place("US", word.upper())
            if word in _US_DIRECTIONS:
                return "US", _US_DIRECTIONS[word]
        return "US", None
    for word in rest:
        if len(word) == 2 and word.upper() in _COUNTRY_GROUP:
            return _place(word.upper())
    if head in _PREFIX_COUNTRIES:
        return _place(_PREFIX_COUNTRIES[head])
    if head in _PREFIX_GROUPS:
        return None, _PREFIX_GROUPS[head]
    if len(head) == 2 and head.upper() in _COUNTRY_GROUP:
        return _place(head.upper())
    return _parse_words(" ".join(words))


def _parse_words(text: str) -> _Place:
    key = " ".join(text.lower().split())
    if key in _PLACE_WORDS:
        return _PLACE_WORDS[key]
    country = _country_code(key)
    if country is not None:
        return _place(country)
    state = _state_code(key)
    if state is not None and len(key) > 2:
        return _place("US", state)
    return _NOWHERE


@lru_cache(maxsize=4096)
def _parse(region: str) -> _Place:
    text = " ".join(region.split())
    if not text:
        return _NOWHERE
    known = _KNOWN_REGIONS.get(text.lower())
    if known is not None:
        return _place(*known)
    match = _PAREN.match(text)
    if match:
        return _parse_parenthesised(match["outer"], match["code"])
    if "," in text:
        return _parse_commas(text)
    words = _parse_words(text)
    if words != _NOWHERE:
        return words
    if "-" in text or "_" in text:
        return _parse_dashed(text)
    return _NOWHERE


def country_of(region: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code of a provider's region string, or None if unknown.

    "Texas, US" -> "US", "EU-RO-1" -> "RO", "us-east-1" -> "US", "Norway" -> "NO",
    "East Coast (NY2)" -> "US", "Europe (AMS1)" -> "NL".
    """
    if not isinstance(region, str):
        return None
    return _parse(region)[0]


@lru_cache(maxsize=4096)
def region_group(region: str | None, country: str | None = None) -> str | None:
    """The region group (one of REGION_GROUPS) of a provider's region string.

    `country` (a code or name the provider gave separately) is used when the region
    string alone does not settle the group. A US location without a known state has no
    group: there is no way to tell East from West.
    """
    found_country, group = _parse(region) if isinstance(region, str) else _NOWHERE
    if group is not None:
        return group
    if found_country is None and isinstance(country, str):
        return _group_of_country(_country_code(country))
    return None


# User filter words -> groups. Keys are normalised by _term_key.
_TERM_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    **{re.sub(r"[\s_-]+", "-", g.lower()): (g,) for g in REGION_GROUPS},
    "us": US_GROUPS,
    "usa": US_GROUPS,
    "united-states": US_GROUPS,
    "north-america": (*US_GROUPS, CANADA),
    "na": (*US_GROUPS, CANADA),
    "us-midwest": (US_CENTRAL,),
    "east-us": (US_EAST,),
    "central-us": (US_CENTRAL,),
    "west-us": (US_WEST,),
    "eu": (EUROPE,),
    "emea": (EUROPE, MIDDLE_EAST, AFRICA),
    # Asia-Pacific conventionally includes Australia and New Zealand.
    "apac": (ASIA, OCEANIA),
    "asia-pacific": (ASIA, OCEANIA),
    "latam": (SOUTH_AMERICA,),
    "latin-america": (SOUTH_AMERICA,),
    "mideast": (MIDDLE_EAST,),
}


def _term_key(term: str) -> str:
    return re.sub(r"[\s_-]+", "-", term.strip().lower())


def expand_region_terms(terms: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split user region filter terms into (groups, raw_terms).

    Group names match case-insensitively with any of space, dash or underscore
    ("us-east", "US East", "us_east"); "US" means every US-* group, "EU" Europe,
    "APAC" Asia and Oceania, "EMEA" Europe, Middle East and Africa. Anything else is
    returned unchanged (whitespace collapsed) as a raw term, meant to be matched
    against the provider's region string or the offer's country code. Both tuples are
    de-duplicated, in first-seen order.
    """
    # dicts, not lists: first-seen order, and a look-up per term rather than a scan
    # (50,000 terms took 25 s with list scans)
    groups: dict[str, None] = {}
    raw: dict[str, None] = {}
    for term in terms:
        text = " ".join(str(term).split())
        if not text:
            continue
        mapped = _TERM_GROUPS.get(_term_key(text))
        if mapped is None:
            raw[text] = None
        else:
            groups.update(dict.fromkeys(mapped))
    return tuple(groups), tuple(raw)
