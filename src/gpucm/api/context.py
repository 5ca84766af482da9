"""What every route reaches: the services, the server's settings, and the secrets to
keep out of every response."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, Request

from gpucm.api.api_settings import ApiSettings
from gpucm.services import Services

# launch environment values remembered for scrubbing (the newest this many)
REMEMBERED_VALUES = 1000


@dataclass
class ApiContext:
    services: Services
    settings: ApiSettings
    # Launches run one at a time: a budget check and the launch it allows must not
    # interleave with another's, and one idempotency key must never launch twice.
    launch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _values: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def secrets(self) -> list[str]:
        """Provider keys, the API token, and launch environment values seen so far:
        none of them may appear in a response or a log line."""
        return [*self.services.settings.secrets(), *self.settings.secrets(), *self._values]

    def remember(self, values: Iterable[str]) -> None:
        for value in values:
            self._values[value] = None
            self._values.move_to_end(value)
        while len(self._values) > REMEMBERED_VALUES:
            self._values.popitem(last=False)


def get_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.context)


Ctx = Annotated[ApiContext, Depends(get_context)]
