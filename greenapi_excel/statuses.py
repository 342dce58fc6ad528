"""The status words written into the Status column: an interface that analysts,
filters, re-runs and tests rely on. A Status cell starts with one of these."""

ARCHIVED = "Archived"
UNARCHIVED = "Unarchived"
ALREADY_ARCHIVED = "Already archived"
ALREADY_UNARCHIVED = "Already unarchived"
CHAT_NOT_FOUND = "Chat not found"
NO_INCOMING = "No incoming messages"
INVALID = "Invalid chat ID"
DUPLICATE = "Duplicate"
WOULD_ARCHIVE = "Would archive"
WOULD_UNARCHIVE = "Would unarchive"
QUOTA_EXCEEDED = "Quota exceeded"
NOT_RUN = "Not run"
FAILED = "Failed"

ALL = (
    ARCHIVED, UNARCHIVED, ALREADY_ARCHIVED, ALREADY_UNARCHIVED, CHAT_NOT_FOUND,
    NO_INCOMING, INVALID, DUPLICATE, WOULD_ARCHIVE, WOULD_UNARCHIVE,
    QUOTA_EXCEEDED, NOT_RUN, FAILED,
)

# A row whose Status already says one of these needs no call on a re-run.
DONE = {
    "archiveChat": (ARCHIVED, ALREADY_ARCHIVED),
    "unarchiveChat": (UNARCHIVED, ALREADY_UNARCHIVED),
}

RESULT_HEADERS = ("Status", "Details", "Updated")


def is_status_text(text: object) -> bool:
    """True when a cell holds text an earlier run wrote (so it may be overwritten)."""
    return isinstance(text, str) and any(text.startswith(word) for word in ALL)
