"""`gpucm instances ...` on the demo market, through `main([...])`: launching (by filters,
by offer id, from the original API's create body), idempotent re-runs, failover, the
refusals, and the stop/start/terminate/ssh/logs lifecycle. No network; the services
clock is pinned and moved by hand (demo instances provision for 20 s)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from gpucm import services as services_module
from gpucm.cli.main import main
from gpucm.engine.launcher import request_tag, tagged_label
from gpucm.providers.demo_instances import PROVISION_SECONDS, fails_for_capacity
from tests.cli.conftest import Clock

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(autouse=True)
def _pinned(cli_clock: Clock) -> Clock:
    return cli_clock


class Terminal(io.StringIO):
    """stdin as a person at a terminal, answering with the given lines."""

    def isatty(self) -> bool:
        return True


def run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: Capsys, *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)  # stdout holds JSON and nothing else


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def demo_records(provider: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        s = await services_module.open_services(demo=True)
        try:
            return dict(await s.store.get_demo_state(f"instances:{provider}") or {})
        finally:
            await s.aclose()

    return asyncio.run(read())


def all_records() -> int:
    return sum(len(demo_records(p)) for p in ("vast_ai", "runpod", "lambda_labs", "paperspace"))


def launchable(capsys: Capsys, *filters: str, fails: bool = False) -> dict[str, Any]:
    """The cheapest available single-GPU offer matching `filters` that the demo market
    will (or, with fails=True, will not) give capacity for: about one offer in seven is
    deterministically "out of capacity" (providers/demo_instances.fails_for_capacity)."""
    offers: list[dict[str, Any]] = run_json(capsys, "offers", *filters)
    for offer in offers:
        if offer["gpu_count"] == 1 and fails_for_capacity(offer["id"]) == fails:
            return offer
    raise AssertionError(f"no offer for {filters} with fails={fails}")


def launch(capsys: Capsys, *argv: str) -> dict[str, Any]:
    instance: dict[str, Any] = run_json(capsys, "instances", "launch", *argv, "--yes")
    return instance


def stored_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


# -- the "done when" ----------------------------------------------------------


def test_launch_cheapest_rtx4090_under_3_once_per_request_id(capsys: Capsys) -> None:
    offers = run_json(capsys, "offers", "--gpu-model", "RTX 4090", "--max-price", "3")
    cheapest = offers[0]
    # The demo market is seeded: in a fresh store its cheapest RTX 4090 always has
    # capacity (the capacity-failure path is tested on its own below).
    assert not fails_for_capacity(cheapest["id"])
    argv = ["--gpu-model", "RTX 4090", "--max-price", "3", "--request-id", "X", "--yes"]

    code, out, err = run(capsys, "instances", "launch", *argv, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["offer_id"] == cheapest["id"]
    assert first["provider"] == cheapest["provider"]
    assert first["gpu_model"] == "RTX 4090"
    assert first["price_per_hour"] <= 3
    assert first["request_id"] == "X"
    assert first["reused"] is False
    assert first["status"] == "provisioning"
    assert first["name"] == tagged_label("gpucm", "X")
    assert "DEMO" in err and "$3.000/h" in err  # the confirmation, with the guard
    records = demo_records(cheapest["provider"])
    assert len(records) == 1

    code, out, err = run(capsys, "instances", "launch", *argv, "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["id"] == first["id"]
    assert again["reused"] is True
    assert again["request_id"] == "X"
    assert "nothing new was created" in err
    assert demo_records(cheapest["provider"]) == records

    listed = run_json(capsys, "instances", "list")
    assert [i["id"] for i in listed] == [first["id"]]
    assert listed[0]["request_id"] == "X"


def test_generated_request_id_is_printed_and_works_as_a_key(capsys: Capsys) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 3090")
    code, out, err = run(capsys, "instances", "launch", "--offer", offer["id"], "--yes")
    assert code == 0, err
    rid = err.split("Request id ", 1)[1].split()[0]
    header, row = out.splitlines()
    assert header.startswith("ID")
    again = launch(capsys, "--offer", offer["id"], "--request-id", rid)
    assert again["reused"] is True
    assert row.startswith(again["id"] + " ")
    assert again["name"].endswith(request_tag(rid))
    assert all_records() == 1


def test_a_request_id_reused_for_another_offer_is_bad_input(capsys: Capsys) -> None:
    offers = run_json(capsys, "offers", "--gpu-model", "RTX 3090")
    first, other = [o for o in offers if not fails_for_capacity(o["id"])][:2]
    launch(capsys, "--offer", first["id"], "--request-id", "K")
    code, out, err = run(
        capsys, "instances", "launch", "--offer", other["id"], "--request-id", "K", "--yes"
    )
    assert code == 2 and out == ""
    line = one_line(err)
    assert f"first used for offer {first['id']}" in line and other["id"] in line
    assert all_records() == 1


def test_the_label_comes_back_as_typed(capsys: Capsys, tmp_path: Path) -> None:
    offer = launchable(capsys, "--provider", "vast_ai", "--gpu-model", "RTX 4090")
    inst = launch(capsys, "--offer", offer["id"], "--label", "ML Training Workstation")
    assert inst["label"] == "ML Training Workstation"
    assert inst["name"].startswith("ML-Training-Workstation-")  # the provider's, tagged
    body = {"provider": "vast_ai", "offer_id": offer["id"], "label": "Notebook for Ana"}
    path = tmp_path / "create.json"
    path.write_text(json.dumps(body))
    code, out, err = run(capsys, "instances", "launch", "--from-json", str(path), "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["label"] == "Notebook for Ana"
    labels = {i["label"] for i in run_json(capsys, "instances", "list")}
    assert labels == {"ML Training Workstation", "Notebook for Ana"}


# -- choosing the offer -------------------------------------------------------------


def test_offer_by_the_providers_own_id_needs_provider(capsys: Capsys) -> None:
    offer = launchable(capsys, "--provider", "runpod", "--gpu-model", "RTX 4090")
    inst = launch(capsys, "--offer", offer["provider_id"], "--provider", "runpod")
    assert inst["offer_id"] == offer["id"]
    code, _, err = run(
        capsys, "instances", "launch", "--offer", offer["provider_id"], "--yes", "--json"
    )
    assert code == 1
    assert "no offer" in one_line(err)


def test_from_json_with_the_original_create_body(capsys: Capsys, tmp_path: Path) -> None:
    secret = "wandb-SECRET-value-0123456789"
    offer = launchable(
        capsys, "--provider", "vast_ai", "--gpu-model", "RTX 4090", "--min-ram", "16"
    )
    body = {
        "provider": "vast_ai",
        "offer_id": offer["provider_id"],  # the provider's own id, as the original sends it
        "image": "pytorch/pytorch:latest",
        "label": "my-training-job",
        "environment": {"WANDB_API_KEY": secret},
        "ports": [{"container_port": 8888, "protocol": "tcp"}],
        "resources": {"min_ram_gb": 16, "min_storage_gb": 20, "min_gpus": 1},
    }
    path = tmp_path / "create.json"
    path.write_text(json.dumps(body))
    code, out, err = run(capsys, "instances", "launch", "--from-json", str(path), "--yes", "--json")
    assert code == 0, err
    inst = json.loads(out)
    assert inst["offer_id"] == offer["id"]
    assert inst["image"] == "pytorch/pytorch:latest"
    assert inst["name"].startswith("my-training-job-")
    assert "WANDB_API_KEY" in err and "values hidden" in err
    assert "8888/tcp" in err and "20 GB disk" in err
    assert secret not in out + err
    assert secret.encode() not in stored_bytes(Path(os.environ["GPUCM_HOME"]))


def test_env_values_from_a_file_and_stdin_stay_secret(
    capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file, from_stdin = "hf_FILE_secret_987654321", "wandb_STDIN_secret_123456789"
    (tmp_path / "token").write_text(from_file + "\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(from_stdin + "\n"))
    offer = launchable(capsys, "--provider", "runpod", "--gpu-model", "RTX 4090")
    code, out, err = run(
        capsys,
        "instances",
        "launch",
        "--offer",
        offer["id"],
        "--env",
        f"HF_TOKEN=@{tmp_path / 'token'}",
        "--env",
        "WANDB_API_KEY=-",
        "--env",
        "MODE=fast",
        "--yes",
    )
    assert code == 0, err
    assert "env HF_TOKEN, WANDB_API_KEY, MODE (values hidden)" in err
    for secret in (from_file, from_stdin):
        assert secret not in out + err
        assert secret.encode() not in stored_bytes(Path(os.environ["GPUCM_HOME"]))


def test_preflight_shows_what_the_provider_cannot_honour(capsys: Capsys) -> None:
    offer = launchable(capsys, "--provider", "lambda_labs", "--gpu-model", "A10")
    code, _, err = run(
        capsys,
        "instances",
        "launch",
        "--offer",
        offer["id"],
        "--image",
        "pytorch/pytorch",
        "--port",
        "8888",
        "--hours",
        "10",
        "--yes",
    )
    assert code == 0, err
    assert "ignored:   image: Lambda Cloud runs VMs" in err
    assert "ignored:   ports:" in err
    assert f"${offer['price_per_hour'] * 10:.2f} for 10 h" in err


# -- confirmation -------------------------------------------------------------------


def test_without_yes_and_without_a_terminal_nothing_launches(capsys: Capsys) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    code, out, err = run(capsys, "instances", "launch", "--offer", offer["id"], "--json")
    assert code == 1
    assert out == ""
    assert "Launch 1 x RTX 4090" in err  # the confirmation is still shown
    assert err.strip().splitlines()[-1].startswith("gpucm: not launched: pass --yes")
    assert all_records() == 0


@pytest.mark.parametrize(("answer", "launched"), [("y\n", True), ("yes\n", True), ("\n", False)])
def test_a_terminal_is_asked(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch, answer: str, launched: bool
) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    code, out, err = run(capsys, "instances", "launch", "--offer", offer["id"])
    assert "Launch? [y/N]" in err
    assert "Launch?" not in out
    assert code == (0 if launched else 1)
    assert all_records() == (1 if launched else 0)
    if not launched:
        assert err.strip().endswith("cancelled: nothing was launched")


# -- capacity and failover --------------------------------------------------------------


def test_no_capacity_without_failover_lists_equivalents_and_launches_nothing(
    capsys: Capsys,
) -> None:
    doomed = launchable(capsys, "--gpu-model", "RTX 4090", fails=True)
    guard = f"{doomed['price_per_hour'] * 2:.3f}"
    code, out, err = run(
        capsys,
        "instances",
        "launch",
        "--offer",
        doomed["id"],
        "--max-price-per-hour",
        guard,
        "--request-id",
        "R",
        "--yes",
        "--json",
    )
    assert code == 1
    assert out == ""
    assert "no longer any instances" in err
    assert "Equivalent offers, cheapest first:" in err
    assert "  1. " in err
    assert "pass --failover" in err.strip().splitlines()[-1]
    assert all_records() == 0

    # the same request id, now with --failover: the next-best equivalent, no question
    code, out, err = run(
        capsys,
        "instances",
        "launch",
        "--offer",
        doomed["id"],
        "--max-price-per-hour",
        guard,
        "--request-id",
        "R",
        "--failover",
        "--yes",
        "--json",
    )
    assert code == 0, err
    inst = json.loads(out)
    assert inst["offer_id"] != doomed["id"]
    assert inst["gpu_model"] == "RTX 4090"
    assert inst["gpu_count"] == 1
    assert inst["request_id"] == "R"
    assert inst["reused"] is False
    assert "Failing over:" in err
    assert "which has no capacity" in err
    assert all_records() == 1


def test_no_capacity_at_a_terminal_asks_which_equivalent(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = launchable(capsys, "--gpu-model", "RTX 4090", fails=True)
    monkeypatch.setattr("sys.stdin", Terminal("y\n1\n"))
    code, out, err = run(
        capsys,
        "instances",
        "launch",
        "--offer",
        doomed["id"],
        "--max-price-per-hour",
        f"{doomed['price_per_hour'] * 2:.3f}",
    )
    assert code == 0, err
    assert "Launch which instead?" in err
    assert doomed["id"] not in out
    assert all_records() == 1


# -- refusals: one line, the right status -------------------------------------------------


def test_max_price_guard_refuses(capsys: Capsys) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    code, out, err = run(
        capsys,
        "instances",
        "launch",
        "--offer",
        offer["id"],
        "--max-price-per-hour",
        "0.01",
        "--yes",
        "--json",
    )
    assert code == 1
    assert out == ""
    line = one_line(err)
    assert "over your maximum of $0.010/h" in line
    assert "nothing was launched" in line
    assert all_records() == 0


def test_filter_max_price_is_the_guard(capsys: Capsys) -> None:
    code, out, err = run(
        capsys, "instances", "launch", "--gpu-model", "RTX 4090", "--max-price", "0.01", "--yes"
    )
    assert code == 1
    assert out == ""
    assert "no available offer matches" in one_line(err)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--offer", "vast_ai:no-such-offer"], "no offer 'vast_ai:no-such-offer'"),
        (["--offer", "12345", "--provider", "runpod"], "no offer '12345'"),
    ],
)
def test_unknown_offer_refuses(capsys: Capsys, argv: list[str], needle: str) -> None:
    run(capsys, "refresh")
    code, out, err = run(capsys, "instances", "launch", *argv, "--yes", "--json")
    assert code == 1
    assert out == ""
    assert needle in one_line(err)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"provider": "vast_ai"}', "offer_id: Field required"),
        ('{"provider": "aws", "offer_id": "1"}', "unknown provider 'aws'"),
        (
            '{"provider": "vast_ai", "offer_id": "1", "ports": [{"container_port": 0}]}',
            "ports.0.container_port",
        ),
        (
            '{"provider": "vast_ai", "offer_id": "1", "environment": {"K": ["hidden-value"]}}',
            "environment.K",
        ),
    ],
)
def test_bad_create_body_is_one_line_exit_2(
    capsys: Capsys, tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "body.json"
    path.write_text(content)
    code, out, err = run(capsys, "instances", "launch", "--from-json", str(path), "--yes")
    assert code == 2
    assert out == ""
    line = one_line(err)
    assert line.startswith(f"gpucm: --from-json {path}:")
    assert needle in line
    assert "hidden-value" not in line


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["launch", "--from-json", "/no/such/file.json"], "cannot read"),
        (["launch", "--yes"], "say which offer"),
        (["launch", "--offer", "x", "--gpu-model", "A100"], "drop --gpu-model"),
        (["launch", "--offer", "x", "--from-json", "f"], "not both"),
        (["launch", "--offer", "x", "--port", "99999"], "--port"),
        (["launch", "--offer", "x", "--port", "80/sctp"], "--port"),
        (["launch", "--offer", "x", "--disk", "-5"], "--disk"),
        (["launch", "--offer", "x", "--disk", "1e400"], "--disk"),
        (["launch", "--gpu-model", "A100", "--min-gpus", str(2**64)], "--min-gpus"),
        (["launch", "--offer", "x", "--env", "SECRETLOOKING"], "--env: expected KEY=VALUE"),
        (["launch", "--offer", "x", "--env", "1BAD=v"], "variable name"),
        (["launch", "--offer", "x", "--env", "K=@/no/such/file"], "--env K: cannot read"),
        (["launch", "--offer", "x", "--provider", "aws"], "aws"),
        (["launch", "--gpu-model", "A100", "--query", "price<<2"], "--query"),
        (["launch", "--offer", "x", "--request-id", " "], "--request-id"),
        (["frobnicate", "x"], "frobnicate"),
        (["stop"], "ID"),
    ],
)
def test_bad_input_one_line_exit_2(capsys: Capsys, argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, "instances", *argv)
    assert code == 2
    assert out == ""
    line = one_line(err)
    assert needle in line
    assert "SECRETLOOKING" not in line  # an --env argument is never repeated


# -- the lifecycle ------------------------------------------------------------------------


def test_lifecycle_list_ssh_stop_start_terminate(capsys: Capsys, cli_clock: Clock) -> None:
    offer = launchable(capsys, "--provider", "vast_ai", "--gpu-model", "RTX 4090")
    inst = launch(capsys, "--offer", offer["id"], "--label", "train", "--request-id", "life")
    iid = inst["id"]

    code, out, err = run(capsys, "instances", "ssh", iid, "--print")
    assert code == 1
    assert "not running yet" in one_line(err)

    cli_clock.advance(PROVISION_SECONDS + 1)
    code, out, err = run(capsys, "instances", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "NAME",
        "GPU",
        "STATUS",
        "UPTIME",
        "$/H",
        "ACCRUED",
        "SSH",
    ]
    assert iid in lines[1] and "running" in lines[1]
    assert max(len(line) for line in lines) <= 80
    assert "Spending $" in err and "(1 machine running)" in err

    code, out, err = run(capsys, "instances", "ssh", iid, "--print")
    assert code == 0, err
    host = f"root@{inst['provider_id']}.demo.invalid"
    assert out == f"ssh {host}\n"
    code, out, err = run(capsys, "instances", "ssh", "train-" + request_tag("life"))
    assert code == 0
    assert out == f"ssh {host}\n"
    assert "demo machine" in err

    running = run_json(capsys, "instances", "list")[0]
    assert running["status"] == "running"
    assert running["ssh_host"] == f"{inst['provider_id']}.demo.invalid"

    cli_clock.advance(3600)
    code, _, err = run(capsys, "instances", "list")
    rate = inst["price_per_hour"]
    assert f"Spending ${rate:.3f}/h (1 machine running)" in err

    assert run_json(capsys, "instances", "stop", iid)["status"] == "stopped"
    code, _, err = run(capsys, "instances", "ssh", iid)
    assert code == 1
    assert "is stopped" in one_line(err)
    assert run_json(capsys, "instances", "start", iid)["status"] == "provisioning"
    cli_clock.advance(15)
    assert run_json(capsys, "instances", "restart", iid)["status"] == "provisioning"

    code, out, err = run(capsys, "instances", "terminate", iid)
    assert code == 1
    assert out == ""
    assert "pass --yes" in one_line(err)
    assert run_json(capsys, "instances", "list")[0]["status"] != "terminated"

    assert run_json(capsys, "instances", "terminate", iid, "--yes")["status"] == "terminated"
    assert run_json(capsys, "instances", "list") == []
    assert [i["id"] for i in run_json(capsys, "instances", "list", "--all")] == [iid]
    # its spend stays: the hour and more it ran, in the ledger, labelled an estimate
    # (the demo reports no billed rate)
    ledger = run_json(capsys, "spend", "--by", "instance")
    (row,) = ledger["rows"]
    assert row["instance"] == iid and row["estimated"] is True
    assert row["usd"] >= rate * 1.0
    code, out, err = run(capsys, "instances", "list", "--all")
    assert f"~${row['usd']:.3f}" in out.splitlines()[1]
    code, _, err = run(capsys, "instances", "stop", iid)
    assert code == 1
    assert "terminated" in one_line(err)


def test_an_action_prints_the_machines_spend_as_list_does(capsys: Capsys, cli_clock: Clock) -> None:
    """stop, start and terminate printed the machine with ACCRUED $0.000 after an hour
    of running: the row ignored the ledger that `list` reads."""
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    iid = launch(capsys, "--offer", offer["id"])["id"]
    cli_clock.advance(PROVISION_SECONDS + 3600)
    listed = run(capsys, "instances", "list")[1].splitlines()[1]
    spent = listed.split()[-2]
    assert spent.startswith("~$") and spent != "~$0.000", listed
    for argv in (["stop", iid], ["terminate", iid, "--yes"]):
        code, out, err = run(capsys, "instances", *argv)
        assert code == 0, err
        assert out.splitlines()[1].split()[-2] == spent, out


def test_terminate_at_a_terminal_needs_the_name_typed(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    inst = launch(capsys, "--offer", offer["id"], "--label", "keep-me")
    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    code, _, err = run(capsys, "instances", "terminate", inst["id"])
    assert code == 1
    assert f"Type {inst['name']} to terminate it:" in err
    assert "untouched" in err
    monkeypatch.setattr("sys.stdin", Terminal(inst["name"] + "\n"))
    code, out, err = run(capsys, "instances", "terminate", inst["id"])
    assert code == 0, err
    assert "terminated" in out


def test_lambda_stop_is_refused_with_the_providers_sentence(capsys: Capsys) -> None:
    offer = launchable(capsys, "--provider", "lambda_labs", "--gpu-model", "A10")
    inst = launch(capsys, "--offer", offer["id"])
    code, out, err = run(capsys, "instances", "stop", inst["id"])
    assert code == 1
    assert out == ""
    # the provider by the name users know, not gpucm's id (lambda_labs)
    assert "Lambda Cloud cannot stop an instance; terminate it" in one_line(err)
    code, out, err = run(capsys, "instances", "logs", inst["id"])
    assert code == 1
    assert "Lambda Cloud's API has no logs" in one_line(err)


def test_unknown_instance_is_one_line_exit_1(capsys: Capsys) -> None:
    code, out, err = run(capsys, "instances", "stop", "vast_ai:nope")
    assert code == 1
    assert out == ""
    assert "no instance 'vast_ai:nope'" in one_line(err)


def test_ssh_runs_the_system_ssh_for_a_real_machine(
    capsys: Capsys, cli_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    inst = launch(capsys, "--offer", offer["id"])
    cli_clock.advance(PROVISION_SECONDS + 1)
    calls: list[tuple[str, list[str]]] = []

    def execvp(file: str, args: list[str]) -> None:
        calls.append((file, list(args)))
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr("gpucm.cli.instances.is_demo", lambda instance: False)
    monkeypatch.setattr(os, "execvp", execvp)
    code, _, err = run(capsys, "instances", "ssh", inst["id"], "--", "-L", "8888:localhost:8888")
    host = f"root@{inst['provider_id']}.demo.invalid"
    assert calls == [("ssh", ["ssh", host, "-L", "8888:localhost:8888"])]
    assert code == 1
    assert "could not run ssh" in one_line(err)


# -- list: sync failures and interrupted launches -------------------------------------------


def test_list_says_which_providers_failed(capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from gpucm.providers.demo import DemoProvider
    from gpucm.providers.errors import ProviderUnavailable

    real = DemoProvider.list_instances

    async def flaky(self: DemoProvider) -> Any:
        if self.name == "runpod":
            raise ProviderUnavailable("runpod", "timed out")
        return await real(self)

    monkeypatch.setattr(DemoProvider, "list_instances", flaky)
    code, out, err = run(capsys, "instances", "list", "--json")
    assert code == 0
    assert json.loads(out) == []
    assert "could not list instances at RunPod (RunPod: timed out)" in err


def test_list_settles_an_interrupted_launch(capsys: Capsys) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")

    async def crash_mid_launch() -> None:
        from gpucm.domain.models import Offer
        from gpucm.providers.base import LaunchSpec

        s = await services_module.open_services(demo=True)
        try:
            await s.store.journal.begin(
                request_id="crashy",
                provider=offer["provider"],
                offer_id=offer["id"],
                label="train",
                request={},
            )
            await s.control(offer["provider"]).launch(
                LaunchSpec(
                    offer=Offer.model_validate(offer),
                    label=tagged_label("train", "crashy"),
                    request_id="crashy",
                )
            )
        finally:  # the process "dies" before the journal hears of the instance
            await s.aclose()

    asyncio.run(crash_mid_launch())
    code, out, err = run(capsys, "instances", "list")
    assert code == 0
    assert "Settled an interrupted launch: request crashy launched" in err
    again = launch(capsys, "--offer", offer["id"], "--request-id", "crashy")
    assert again["reused"] is True
    assert again["name"] == tagged_label("train", "crashy")
    assert out.splitlines()[1].startswith(again["id"] + " ")
    assert all_records() == 1


def test_spend_groups_exports_csv_safely_and_refuses_bad_values(
    capsys: Capsys, cli_clock: Clock
) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    inst = launch(capsys, "--offer", offer["id"], "--label", "=HYPERLINK(1)")
    cli_clock.advance(7200)
    code, out, err = run(capsys, "spend", "--by", "instance", "--csv")
    assert code == 0, err
    header, row = out.splitlines()
    assert header == "instance,provider,name,gpu,usd,hours,estimated"
    assert row.startswith(f"{inst['id']},{inst['provider']},'=HYPERLINK(1),")
    days = run_json(capsys, "spend", "--by", "day", "--since", "2d")
    assert [r["day"] for r in days["rows"]] == [cli_clock().date().isoformat()]
    assert days["timezone"] == "UTC" and days["estimated"] is True
    code, out, err = run(capsys, "spend")
    assert code == 0 and "SPENT" in out.splitlines()[0] and "~$" in out
    assert "this month ~$" in err
    for bad in (["--by", "week"], ["--since", "soon"], ["--since", "-3d"], ["--json", "--csv"]):
        code, out, err = run(capsys, "spend", *bad)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1, err


def test_the_list_shows_the_price_the_confirmation_showed(capsys: Capsys) -> None:
    # RunPod bills a large disk apart: the confirmation's all-in price is compute plus
    # storage, and the list showed only the compute rate, where the TUI's manager shows
    # the confirmed price
    offer = launchable(capsys, "--provider", "runpod")
    code, out, err = run(
        capsys, "instances", "launch", "--offer", offer["id"], "--disk", "200", "--yes"
    )
    assert code == 0, err
    confirmed = re.search(r"price:\s+\$(\d+\.\d+)/h all-in \(compute \$(\d+\.\d+)", out + err)
    assert confirmed, out + err
    all_in, compute = confirmed.groups()
    assert all_in != compute
    launched_row = out.splitlines()[-1]  # the launch ends with the machine's row
    code, out, err = run(capsys, "instances", "list")
    assert code == 0, err
    (row,) = [line for line in out.splitlines() if line.startswith("runpod:")]
    for shown in (row, launched_row):
        assert f"${all_in}" in shown and f"${compute}" not in shown, shown
