"""Schemathesis against /openapi.json of a live `gpucm serve --demo`: generated
requests, valid and invalid, to every operation; none may get a 5xx, and valid ones
must be answered as the schema says (status codes, content types, bodies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from tests.api.live import live_server

# per operation and mode: about 15 s in all (200 found nothing more, in 45 s)
EXAMPLES = 40


def can_be_wrong(operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> bool:
    """Whether a request to it can be invalid: any string is a valid instance id, so
    the operations that take only that have no negative cases."""
    return any(len(part) for part in (operation.query, operation.headers, operation.body))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(tmp_path: Path, mode: GenerationMode) -> None:
    with live_server(tmp_path, RATE_LIMIT_ENABLED="false") as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        checks: list[CheckFunction] = [not_a_server_error]
        if mode is GenerationMode.POSITIVE:
            checks += [
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ]
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # the schema itself is valid
            operations.append(result.ok())
        tried = 0
        for operation in operations:
            if mode is GenerationMode.NEGATIVE and not can_be_wrong(operation):
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case[Any]) -> None:
                response = case.call(base_url=server.url, timeout=30)
                case.validate_response(response, checks=checks)

            run()
            tried += 1
        assert tried >= (13 if mode is GenerationMode.POSITIVE else 5)
        assert server.stop() == 0
        answered = [line for line in server.stderr if "HTTP/1.1" in line]
        assert len(answered) >= 10 * tried  # the examples really were sent
        assert not [line for line in server.stderr if "Traceback" in line or "ERROR" in line]
