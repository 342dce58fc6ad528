"""Every error the engine raises, in one place.

Texts never carry the apiTokenInstance: the client translates lower-level
exceptions at its edge, redacts their text and raises ours outside any ``except``
block, from frames that no longer hold the URL (a chained ``requests`` exception, or
a frame's ``url`` local, would carry the URL, and the URL carries the token).
"""

from __future__ import annotations


class GreenApiExcelError(Exception):
    """Base of everything this package raises on purpose."""


# --- configuration -----------------------------------------------------------

class ConfigError(GreenApiExcelError):
    """Missing or refused settings: credentials, apiUrl, region, flags."""


# --- talking to GREEN-API ------------------------------------------------------

class ApiError(GreenApiExcelError):
    """GREEN-API answered with an error, or could not be reached.

    ``status`` is the HTTP status (None when there was no answer) and ``text``
    the server's answer, already redacted and shortened. ``uncertain_attempts`` counts earlier
    attempts of a state-changing call whose outcome is unknown (a timeout, a lost reply, a 5xx):
    a 401, 403 or 466 that follows one says nothing about what that attempt did.
    """

    def __init__(self, message: str, *, status: int | None = None, text: str = "", uncertain_attempts: int = 0):
        super().__init__(message)
        self.status = status
        self.text = text
        self.uncertain_attempts = uncertain_attempts


class AuthError(ApiError):
    """401: the apiTokenInstance is wrong. Stops a run at the first answer."""


class InstanceError(ApiError):
    """403: the idInstance or the apiUrl is wrong. Stops a run at the first answer."""


class QuotaExceeded(ApiError):
    """466: the instance's quota is used up; the message carries GREEN-API's own explanation."""


class NotAuthorized(ApiError):
    """The instance answers but its WhatsApp account is not linked (stateInstance != authorized)."""


class IncomingWebhookOff(NotAuthorized):
    """getSettings says incomingWebhook is "no": archiveChat cannot work until it is switched on."""


class InstanceStarting(NotAuthorized):
    """The instance was still restarting ("instance in starting process", stateInstance "starting") after the
    wait GREEN-API documents (up to 5 minutes): nothing can be archived until it is back."""


class EmptyChatList(ApiError):
    """getChats kept answering an empty list: more likely a glitch than an emptied account, so nothing that
    depends on the list (Load chats, a dry run, verify) trusts it."""


class ConnectionFailed(ApiError):
    """The request never reached the server: name not resolved, port closed, TLS failure, connect timeout."""


class OutcomeUnknown(ApiError):
    """Retries ran out and the last attempt may have been carried out (timeout, dropped connection, 5xx)."""


class RetriesExhausted(ApiError):
    """Retries ran out on answers that certainly changed nothing (429, connection refused)."""


class Stopped(ApiError):
    """The run was told to stop (the Stop button, the book closing) before this call was sent."""


# --- workbooks -----------------------------------------------------------------

class WorkbookError(GreenApiExcelError):
    """The workbook cannot be read or written: wrong format, missing sheet, unreadable, read-only."""


class BookBusy(WorkbookError):
    """Another run is working on the same book, or Excel holds it open."""
