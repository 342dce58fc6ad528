"""Test-only: an asyncio transport over aiohttp, so the asyncio driver (``run.aio``) can be driven against the
sandbox over real HTTP in CPython. In xlwings Lite the transport is ``pyodide.http.pyfetch``
(``greenapi_excel.lite``); both turn one ``HttpRequest`` into exactly one ``transport`` outcome, classified
as the ``requests`` transport classifies: never sent, ambiguous, or an answer."""

from __future__ import annotations

import asyncio

import aiohttp

from greenapi_excel.transport import Ambiguous, HttpReply, HttpRequest, NeverSent


class AiohttpTransport:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def send(self, request: HttpRequest):
        if self._session is None:
            self._session = aiohttp.ClientSession()
        connect, read = request.timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        headers = {"Content-Type": "application/json"} if request.body is not None else {}
        try:
            async with self._session.request(request.verb, request.url, data=request.body, headers=headers,
                                             timeout=timeout, allow_redirects=False) as response:
                try:
                    data = await response.content.read(request.limit)
                except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                    return Ambiguous(f"the answer was cut off ({type(error).__name__})")
                return HttpReply(response.status, data.decode("utf-8", "replace"),
                                 {name.lower(): value for name, value in response.headers.items()})
        except aiohttp.ClientConnectorError:
            return NeverSent("could not connect")
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError):
            return Ambiguous(f"no answer within {read:g} s")
        except aiohttp.ServerDisconnectedError:
            return Ambiguous("the connection dropped before the answer")
        except aiohttp.ClientError as error:
            return Ambiguous(f"the request failed ({type(error).__name__})")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
