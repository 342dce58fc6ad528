"""GREEN-API on asyncio: the asyncio driver of ``calls``' flows, for edges that cannot start a thread
(xlwings Lite runs Python in the browser's event loop, where ``time.sleep`` would freeze the pane).

The flows are the threads driver's (``client.GreenApiClient``); only the way effects are carried out
differs: ``await transport.send(request)`` (any object with that coroutine: ``pyodide.http.pyfetch`` in
Lite, an aiohttp session in the tests), pacing waits and backoffs with ``asyncio.sleep``, a stop request
checked while waiting. Nothing here imports ``requests`` or starts a thread.
"""

from __future__ import annotations

import asyncio

from greenapi_excel import calls, pacing
from greenapi_excel.calls import Credentials
from greenapi_excel.methods import ARCHIVE, UNARCHIVE
from greenapi_excel.results import REDACTED

STOP_POLL_SECONDS = 0.05   # a stop request ends a pacing wait within this


class AsyncGreenApiClient:
    """The calls of ``client.GreenApiClient`` as coroutines, over ``transport``."""

    def __init__(self, credentials: Credentials, transport, *, timeout=(5.0, 30.0), max_attempts: int = 5,
                 rate: float = pacing.DEFAULT_RATE, read_rate: float = pacing.DEFAULT_READ_RATE,
                 backoff_base: float = 0.5, backoff_cap: float = 20.0, waits: calls.Waits | None = None):
        self.credentials = credentials
        self.endpoint = calls.Endpoint(credentials, timeout=timeout, max_attempts=max_attempts,
                                       backoff_base=backoff_base, backoff_cap=backoff_cap, waits=waits)
        self.api_url, self.id_instance = self.endpoint.api_url, self.endpoint.id_instance
        self._pacers = pacing.Pacers(self.api_url, self.id_instance, rate=rate, read_rate=read_rate)
        self.transport = transport
        self.cancel = None   # anything with is_set(): a first try not yet sent leaves its slot at once
        self.on_wait = None  # (reason, waited, limit) of each wait for GREEN-API, as client.GreenApiClient's

    def __repr__(self) -> str:
        return f"AsyncGreenApiClient(api_url={self.api_url!r}, id_instance={self.id_instance!r}, api_token='{REDACTED}')"

    async def archive_chat(self, chat_id) -> calls.ChatCallResult:
        return await self.drive(calls.change(self.endpoint, ARCHIVE, chat_id))

    async def unarchive_chat(self, chat_id) -> calls.ChatCallResult:
        return await self.drive(calls.change(self.endpoint, UNARCHIVE, chat_id))

    async def get_chats(self) -> list[dict]:
        return await self.drive(calls.get_chats(self.endpoint))

    async def get_contact_info(self, chat_id) -> dict:
        return await self.drive(calls.get_contact_info(self.endpoint, chat_id))

    async def get_state_instance(self) -> str:
        return await self.drive(calls.get_state_instance(self.endpoint))

    async def check_whatsapp(self, chat_id: str) -> dict:
        return await self.drive(calls.check_whatsapp(self.endpoint, chat_id))

    async def get_settings(self) -> dict:
        return await self.drive(calls.get_settings(self.endpoint))

    async def set_settings(self, settings: dict) -> dict:
        return await self.drive(calls.set_settings(self.endpoint, settings))

    async def last_incoming_messages(self, minutes: int = 1440) -> list[dict]:
        return await self.drive(calls.journal(self.endpoint, calls.LAST_INCOMING, minutes))

    async def last_outgoing_messages(self, minutes: int = 1440) -> list[dict]:
        return await self.drive(calls.journal(self.endpoint, calls.LAST_OUTGOING, minutes))

    async def drive(self, flow):
        """Carry out ``flow``'s effects until it returns; raise what it returned if that is an error
        (outside any ``except`` block, after the request is gone, as the threads driver does)."""
        answer = None
        while True:
            try:
                effect = flow.send(answer)
            except StopIteration as finished:
                result = finished.value
                break
            answer = await self.carry_out(effect)
        effect = answer = None
        del flow, effect, answer
        if isinstance(result, BaseException):
            raise result
        return result

    async def carry_out(self, effect):
        """Carry out one effect of a ``calls`` flow in the event loop; what it gave."""
        if isinstance(effect, calls.Send):
            return await self.transport.send(effect.request)
        if isinstance(effect, calls.Pace):
            cancel = self.cancel if effect.cancellable else None
            for delay in self._pacers.of(effect.method).delays():
                if await pause(delay, cancel):
                    return True
            return cancel is not None and cancel.is_set()
        if isinstance(effect, calls.Sleep):
            cancel = self.cancel if effect.cancellable else None
            return await pause(max(0.0, effect.seconds), cancel)
        if isinstance(effect, calls.Waiting):
            now = asyncio.get_running_loop().time()
            if self.on_wait is not None:
                self.on_wait(effect.reason, effect.waited(now), effect.limit)
            return now
        if isinstance(effect, calls.Throttled):
            self._pacers.of(effect.method).throttled(effect.retry_after)
            return None
        if isinstance(effect, calls.Recovered):
            self._pacers.of(effect.method).succeeded()
            return None
        raise TypeError(f"unknown effect {type(effect).__name__}")


async def pause(seconds: float, cancel=None) -> bool:
    """Sleep ``seconds`` in the event loop; True as soon as ``cancel`` is set (checked every 50 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if cancel is not None and cancel.is_set():
            return True
        left = deadline - loop.time()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, STOP_POLL_SECONDS) if cancel is not None else left)
