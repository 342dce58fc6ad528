"""Every sentence an analyst reads about a run, an undo, a check, a chat list or a failure, in one place,
through the catalogue (English and Russian). The edges (the ribbon's alerts and status bar, the command
line, the worksheet functions, Lite) call these and show what they return; none words its own.
"""

from __future__ import annotations

from greenapi_excel import methods, statuses as st
from greenapi_excel.i18n import N_, _, ngettext
from greenapi_excel.results import cell_text

TITLE = "GreenApi"
ALERT_LIMIT = 4000  # a message box: a summary of a few lines, never a server's whole page

# The setting archiveChat needs, as the GREEN-API console names it.
WEBHOOK_SETTING = N_("Receive webhooks on incoming messages and files")
WEBHOOK_OFF_TEXT = N_("the instance's setting \"{setting}\" (incomingWebhook) is off, and archiveChat works only "
                      "when it is on: switch it on in the instance's settings in the GREEN-API console "
                      "(console.green-api.com), or run greenapi-excel check --fix; it takes up to 5 minutes to "
                      "apply. Nothing was changed")


# --- shaping ---------------------------------------------------------------------------------------------

def sentence(text: str) -> str:
    """One sentence: capitalised (unless it starts with a name like idInstance), ending with a full stop."""
    text = text.strip() or _("no details")
    first = text.split(" ", 1)[0]
    if first.islower() and first.isalpha():  # "idInstance ..." stays as written
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def alert_text(text: str, *tokens: str | None) -> str:
    """What a message box may show: the token out, the cell rule (line breaks kept), at most ALERT_LIMIT."""
    from greenapi_excel.results import redact

    return cell_text(redact(text, *tokens), ALERT_LIMIT, lines=True)


def failure(error: BaseException) -> str:
    """What an alert or a cell says of an error: our own errors' sentence, else its kind and sentence."""
    from greenapi_excel.errors import GreenApiExcelError

    if isinstance(error, GreenApiExcelError):
        return sentence(str(error))
    return _("Something went wrong ({error}): {details}").format(error=type(error).__name__,
                                                                 details=sentence(str(error)))


def status_counts(counts: dict) -> str:
    """"Archived 12, Chat not found 1" in the language in force, in the status table's order."""
    order = [w for w in st.ALL if counts.get(w)] + [w for w in counts if w not in st.ALL and counts[w]]
    return ", ".join(f"{st.localised(word)} {counts[word]}" for word in order)


# --- the instance ---------------------------------------------------------------------------------------

def webhook_off() -> str:
    return _(WEBHOOK_OFF_TEXT).format(setting=_(WEBHOOK_SETTING))


# What each state of getStateInstance means and what to do about it (docs: account/GetStateInstance).
STATE_TEXTS = {
    "authorized": N_("the instance is authorized: WhatsApp is linked to it and it is ready"),
    "notAuthorized": N_("the instance is not authorized (stateInstance notAuthorized): no WhatsApp account is linked "
                        "to it, so nothing can be archived. Link one in the GREEN-API console "
                        "(console.green-api.com): scan the QR code with WhatsApp on the phone, or use the code "
                        "for the phone number"),
    "blocked": N_("the instance is blocked (stateInstance blocked): WhatsApp has banned this number, so nothing can "
                  "be archived and nothing this tool does can change that. Ask GREEN-API's support "
                  "(support@green-api.com) what can be done"),
    "sleepMode": N_("the instance is in sleep mode (stateInstance sleepMode): its state is out of date, as when the "
                    "phone is switched off. Switch the phone on and connect it to the internet: within 5 minutes "
                    "the instance is authorized again. Archiving goes ahead meanwhile; if chats fail, run again "
                    "then"),
    "starting": N_("the instance is starting up (stateInstance starting), as after a change of its settings or a "
                   "reboot: that takes up to 5 minutes. If it lasts longer, reboot the instance in the GREEN-API "
                   "console, or ask GREEN-API's support"),
    "yellowCard": N_("WhatsApp has suspended sending messages from this number for a while for spam-like activity "
                     "(stateInstance yellowCard). Archiving is not sending and goes ahead; to send again, slow "
                     "down and reboot the instance in the GREEN-API console"),
    "suspended": N_("WhatsApp has suspended sending messages from this number for a while for spam-like activity "
                    "(stateInstance suspended). Archiving is not sending and goes ahead; to send again, slow "
                    "down and reboot the instance in the GREEN-API console"),
}


def instance_state(state: str) -> str:
    """What the instance's state means and what to do about it, in a sentence or two."""
    text = STATE_TEXTS.get(state)
    if text is not None:
        return _(text)
    return _("the instance answers, but its state is {state!r}, which this tool does not know, so nothing was "
             "changed: look at the instance in the GREEN-API console").format(state=cell_text(state, 60))


def connected(instance: str, url: str) -> str:
    return _("Connected: instance {instance} at {url} is authorized and ready.").format(instance=instance, url=url)


def state_problem(instance: str, state: str) -> str:
    return _("Instance {instance}: {state}").format(instance=instance, state=sentence(instance_state(state)))


def still_restarting(seconds: float) -> str:
    """The run's stop, or check's answer, when the instance did not come back from a restart in time (or, in
    Excel's own process, which never waits: is restarting)."""
    if seconds <= 0:
        return _("the instance is restarting (GREEN-API answered \"instance in starting process\"), so nothing was "
                 "sent; it takes up to 5 minutes: try again in a few minutes, and if it lasts, reboot the instance "
                 "in the GREEN-API console")
    return _("the instance was still restarting after {time} (GREEN-API answered \"instance in starting "
             "process\"), so nothing more was sent; it usually takes up to 5 minutes: try again in a few minutes, "
             "and if it lasts, reboot the instance in the GREEN-API console").format(time=duration(seconds))


def waiting(reason: str, waited: float, limit: float) -> str:
    """What a wait for GREEN-API shows beside the progress: why, how long so far, how long at most."""
    if reason == "restart":   # calls.RESTART (texts never imports calls: calls words its errors here)
        return _("the instance is restarting: waiting {waited} (at most {limit})").format(
            waited=duration(waited), limit=duration(limit))
    return _("waiting for GREEN-API's chat list to refresh (once a minute): {left} left").format(
        left=duration(max(0.0, limit - waited)))


def webhook_left_off() -> str:
    return _("Left off. Archive chats will stop before changing anything until \"{setting}\" is on.").format(
        setting=_(WEBHOOK_SETTING))


def asking(instance: str) -> str:
    return f"{TITLE}: " + _("asking instance {instance}...").format(instance=instance)


# --- a run ------------------------------------------------------------------------------------------

def plan_line(plan) -> str:
    """"12 rows, 9 to archive, 1 done earlier, 1 invalid, 1 duplicate"."""
    invalid = sum(r.status == st.INVALID for r in plan.decided)
    dupes = sum(r.status == st.DUPLICATE for r in plan.decided)
    todo = len(plan.todo)
    parts = [ngettext("{n} row", "{n} rows", plan.rows).format(n=plan.rows),
             (_("{n} to archive") if plan.method == methods.ARCHIVE else _("{n} to unarchive")).format(n=todo)]
    if plan.kept:
        parts.append(_("{n} done earlier").format(n=len(plan.kept)))
    if invalid:
        parts.append(_("{n} invalid").format(n=invalid))
    if dupes:
        parts.append(ngettext("{n} duplicate", "{n} duplicates", dupes).format(n=dupes))
    if plan.hidden:
        parts.append(ngettext("{n} hidden row skipped", "{n} hidden rows skipped", plan.hidden).format(n=plan.hidden))
    return ", ".join(parts)


def all_chats_where(n: int) -> str:
    return ngettext("{n} chat of the instance's chat list", "{n} chats of the instance's chat list", n).format(n=n)


def where(column: str, sheet: str) -> str:
    return _("column {column} of sheet {sheet}").format(column=column, sheet=sheet)


def every_row_hidden(where_text: str, hidden: int) -> str:
    return ngettext("Every row with a chat in {where} is hidden ({n} row): clear the filter, or show the row, to "
                    "act on it.",
                    "Every row with a chat in {where} is hidden ({n} rows): clear the filter, or show the rows, to "
                    "act on them.", hidden).format(where=where_text, n=hidden)


def no_chats(where_text: str) -> str:
    return _("No chat IDs found in {where}. Select the chat IDs, or head their column Chat ID.").format(
        where=where_text)


def starting(what: str) -> str:
    return _("{title}: starting ({what})...").format(title=TITLE, what=what)


def rows_count(n: int) -> str:
    return ngettext("{n} row", "{n} rows", n).format(n=f"{n:,}")


def stopping() -> str:
    return f"{TITLE}: " + _("stopping...")


def busy(book: str) -> str:
    return _("a GreenApi run is already going on {book}: wait for its summary, or press Stop to end it, then "
             "start again").format(book=book)


def nothing_to_stop(book: str) -> str:
    return _("No GreenApi run is going on {book}: there is nothing to stop.").format(book=book)


def run_summary(outcome) -> str:
    """The alert at the end of a run on a sheet (the ribbon, Lite)."""
    summary, plan = outcome.summary, outcome.plan
    method = methods.of(plan.method)
    verb = _("Dry run") if outcome.dry_run else _(method.title)
    rows = ngettext("{verb}: {n} row in {where}", "{verb}: {n} rows in {where}", plan.rows).format(
        verb=verb, n=plan.rows, where=outcome.where)
    calls = ngettext("{n} call to GREEN-API", "{n} calls to GREEN-API", summary.calls).format(n=summary.calls)
    lines = [f"{rows}, {summary.seconds:.1f} s, {calls}.", status_counts(summary.counts) + "."]
    if summary.stopped:
        lines.append(stopped_early(summary.stopped))
    if plan.hidden:
        lines.append(ngettext("Skipped {n} hidden row (filtered out or hidden); clear the filter to include it.",
                              "Skipped {n} hidden rows (filtered out or hidden); clear the filter to include them.",
                              plan.hidden).format(n=plan.hidden))
    if outcome.note:
        lines.append(sentence(outcome.note))
    if outcome.token_moved:
        lines.append(token_moved_short(outcome.token_moved))
    if outcome.book_gone:
        lines.append(book_gone())
    return "\n".join(lines)


def stopped_early(reason: str) -> str:
    return _("Stopped early: {reason} Rows not reached say {status}; run again to finish.").format(
        reason=sentence(reason), status=_(st.NOT_RUN))


def book_gone() -> str:
    return _("The book closed (or Excel stopped answering) during the run, so the run stopped there. Every "
             "finished result is in the journal: press the same button on the book again to fill in the statuses "
             "(finished chats are answered from the journal, not sent again).")


def duration(seconds: float) -> str:
    """45 s, 1 min 11 s, 17 min, 2 h 5 min: as precise as a time left can honestly be."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return _("{s} s").format(s=seconds)
    minutes, rest = divmod(seconds, 60)
    if minutes < 10:
        return _("{m} min {s} s").format(m=minutes, s=rest) if rest else _("{m} min").format(m=minutes)
    minutes += rest >= 30
    if minutes < 60:
        return _("{m} min").format(m=minutes)
    hours, minutes = divmod(minutes, 60)
    return _("{h} h {m} min").format(h=hours, m=minutes) if minutes else _("{h} h").format(h=hours)


def progress_line(done: int, total: int, pace: float | None, wait: str | None = None) -> str:
    """``GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left``; the pace and time left once known; while
    the run waits for GREEN-API, what it waits for (``waiting``) instead of the pace."""
    parts = [f"{TITLE}: " + _("{done} of {total}").format(done=f"{done:,}", total=f"{total:,}")]
    if wait:
        parts.append(wait)
    elif pace and pace > 0:
        parts.append(_("{pace}/s").format(pace=f"{pace:.1f}"))
        if done < total:
            parts.append(_("about {time} left").format(time=duration((total - done) / pace)))
    return " \u00b7 ".join(parts)


# --- answers a run reads twice: lost replies, one chat under two IDs, the workaround ---------------------------

def settled_done(source: str) -> str:
    return _("done; the reply was lost, {source} confirms it").format(source=source)


def settled_unchanged(details: str, source: str) -> str:
    return _("{details}; {source} confirms nothing changed").format(details=details, source=source)


def settled_not_done(error, source: str) -> str:
    return _("not done ({error}); {source} confirms nothing changed").format(error=error, source=source)


def dry_run_other_id() -> str:
    return _("dry run: nothing changed; getChats lists some chats by another ID (@lid or number) that could not be "
             "matched to this one, so whether it is archived already is not known: a real run will tell")


def workaround_done(method: str) -> str:
    if method == methods.ARCHIVE:
        return _("archived again: GREEN-API said it was archived already while its chat list showed it was not, "
                 "so it was unarchived and archived again (GREEN-API's own advice)")
    return _("unarchived again: GREEN-API said it was unarchived already while its chat list showed it was not, "
             "so it was archived and unarchived again")


def workaround_refused(method: str) -> str:
    if method == methods.ARCHIVE:
        return _("GREEN-API still says it is archived already, while its chat list shows it is not, also after "
                 "unarchiving and archiving it again: archive it in WhatsApp by hand, or ask GREEN-API's support")
    return _("GREEN-API still says it is not archived, while its chat list shows it is, also after archiving and "
             "unarchiving it again: unarchive it in WhatsApp by hand, or ask GREEN-API's support")


def workaround_failed(method: str, details: str) -> str:
    return _("GREEN-API's chat list disagrees with its answer, and the first step of its own workaround failed: "
             "{details}").format(details=details)


# --- an empty chat list --------------------------------------------------------------------------------------

def empty_chat_list_dry_run() -> str:
    return _("GREEN-API's chat list (getChats) came back empty, also when asked again, so the dry run cannot tell "
             "what a run would do (nothing was changed): try again in a few minutes")


def empty_chat_list_verify() -> str:
    return _("GREEN-API's chat list (getChats) came back empty, also when asked again, so nothing could be checked "
             "and no status was changed: try again in a few minutes")


# --- verify --------------------------------------------------------------------------------------------------

def not_as_said(method: str, when) -> str:
    """Details of a row verify found otherwise than it says: when it was checked, and the likely causes."""
    stamp = f"{when:%Y-%m-%d %H:%M}"
    if method == methods.ARCHIVE:
        return _("checked {when}: GREEN-API's chat list shows it not archived. Likely: a new message brought it back "
                 "(when \"Keep chats archived\" is off on the phone), someone unarchived it by hand, or GREEN-API "
                 "did not apply the call. Archive chats (or verify --fix) sends it again").format(when=stamp)
    return _("checked {when}: GREEN-API's chat list shows it archived. Likely: someone archived it by hand, or "
             "GREEN-API did not apply the call. Unarchive chats (or verify --fix) sends it again").format(when=stamp)


# --- the token and the Settings sheet ------------------------------------------------------------------------

def token_is_a_number() -> str:
    return _("the Token cell holds a number, not the token text: format it as Text and paste again")


def token_moved_short(instance: str) -> str:
    return _("The token typed in Settings is now in the OS keychain for instance {instance}; its cell is "
             "empty.").format(instance=instance)


def settings_saved(moved: str | None, keychain: str, path) -> str:
    lines = []
    if moved:
        lines.append(_("The token for instance {instance} is now in the OS keychain ({keychain}); its cell is "
                       "empty, and the workbook does not keep it.").format(instance=moved, keychain=keychain))
    else:
        lines.append(_("No token was typed in the Settings sheet; a token stored earlier stays in the keychain."))
    lines.append(_("apiUrl, idInstance and Region are saved to {path}.").format(path=path))
    return " ".join(lines)


def keychain_name(platform: str) -> str:
    if platform.startswith("win"):
        return _("Windows Credential Manager")
    if platform == "darwin":
        return _("macOS Keychain")
    return _("the system keyring")


# --- undo --------------------------------------------------------------------------------------------

def undo_question(found) -> str:
    count = len(found.chats)
    return (_("Undo the last run? {run}").format(run=sentence(found.describe())) + "\n\n"
            + ngettext("This will {verb} that {n} chat.", "This will {verb} those {n} chats.", count).format(
                verb=found.verb, n=count))


def nothing_changed() -> str:
    return _("Nothing was changed.")


def undo_starting(found) -> str:
    count = len(found.chats)
    return ngettext("undo of run {run}, {n} chat", "undo of run {run}, {n} chats", count).format(
        run=found.run.id, n=f"{count:,}")


def undo_summary(outcome, lines_elsewhere: list[str]) -> str:
    summary = outcome.summary
    lines = [_("Undo of run {run}: {counts}. Statuses are {where}.").format(
        run=outcome.undo_of, counts=status_counts(summary.counts) or _("nothing done"), where=outcome.where)]
    lines += lines_elsewhere[:20]
    if len(lines_elsewhere) > 20:
        more = len(lines_elsewhere) - 20
        lines.append(ngettext("... and {n} more (greenapi-excel journal lists them all)",
                              "... and {n} more (greenapi-excel journal lists them all)", more).format(n=more))
    if summary.stopped:
        lines.append(_("Stopped early: {reason}").format(reason=sentence(summary.stopped)))
    if outcome.book_gone:
        lines.append(book_gone())
    return "\n".join(lines)


def undo_where_sheet(sheet: str) -> str:
    return _("on sheet {sheet}").format(sheet=sheet)


def undo_where_printed() -> str:
    return _("printed here (the run's book is not this one)")


# --- the worksheet functions ---------------------------------------------------------------------------

def too_many_for_a_function(count: int, method: str, limit: int, seconds: float) -> str:
    return ngettext("{n} chat to call is more than a worksheet function sends without holding up Excel (at most "
                    "{limit} in {seconds} s): select the chats and press {button} on the GreenApi tab, which runs in "
                    "the background",
                    "{n} chats to call is more than a worksheet function sends without holding up Excel (at most "
                    "{limit} in {seconds} s): select the chats and press {button} on the GreenApi tab, which runs in "
                    "the background", count).format(
        n=f"{count:,}", limit=limit, seconds=f"{seconds:g}", button=_(methods.of(method).button))


def too_many_for_a_lite_function(count: int, method: str, limit: int, seconds: float) -> str:
    return ngettext("{n} chat to call is more than a worksheet function sends at once (at most {limit} in {seconds} "
                    "s): put the chats in the Chats sheet's first column and press {button} there",
                    "{n} chats to call is more than a worksheet function sends at once (at most {limit} in {seconds} "
                    "s): put the chats in the Chats sheet's first column and press {button} there", count).format(
        n=f"{count:,}", limit=limit, seconds=f"{seconds:g}", button=_(methods.of(method).button))


def one_column_please() -> str:
    return _("give one column of chat IDs, this row has several values")


def not_in_chat_list() -> str:
    return _("not in the instance's chat list")


def no_answer() -> str:
    return _("no answer")


# --- xlwings Lite (Excel's browser engine) ------------------------------------------------------------------

def browser_cannot_reach(host: str) -> str:
    return _("Excel's browser engine could not reach GREEN-API at {host}: the network is down, or GREEN-API does not "
             "allow calls from Excel's browser engine (xlwings Lite runs there). Nothing was changed. Check the "
             "connection and press the button again; if it still fails, use the desktop edition (GreenApi.xlsm), "
             "which does not go through the browser.").format(host=host)


def lite_token_missing(variable: str) -> str:
    return _("The token is not set: in xlwings Lite, open the menu > Environment Variables, add Name {variable}, "
             "Value your apiTokenInstance (GREEN-API console), Scope Local, press Save, then Restart. It stays in this "
             "computer's Excel, never in the workbook.").format(variable=variable)


def lite_token_in_a_cell() -> str:
    return _("A token was typed into the Settings sheet. This workbook never keeps the token, so that cell is now "
             "empty; nothing was sent. Set it in xlwings Lite instead: menu > Environment Variables, Name "
             "GREENAPI_API_TOKEN_INSTANCE, Scope Local, Save, Restart.")


def lite_id_instance_missing(variable: str) -> str:
    return _("idInstance is not known: fill in idInstance on the Settings sheet and press Check connection (the "
             "worksheet functions take it from there once a button has read it), or set {variable} in xlwings Lite's "
             "Environment Variables.").format(variable=variable)


def lite_hidden_rows_unknown(sheet: str, error: str) -> str:
    return _("xlwings Lite could not say which rows of sheet {sheet} are hidden ({error}), and a run never acts on "
             "rows a filter hides: nothing was sent. Update the xlwings Lite add-in (Home > Add-ins), or use the "
             "desktop edition.").format(sheet=sheet, error=error)


def lite_undo_press_again(seconds: int) -> str:
    return ngettext("Press Undo last run again within {n} second to go ahead; nothing happens otherwise.",
                    "Press Undo last run again within {n} seconds to go ahead; nothing happens otherwise.",
                    seconds).format(n=seconds)


def lite_verify_press_again(seconds: int) -> str:
    return ngettext("Press Verify again within {n} second to go ahead; nothing is sent otherwise.",
                    "Press Verify again within {n} seconds to go ahead; nothing is sent otherwise.",
                    seconds).format(n=seconds)


def lite_check_press_again(seconds: int) -> str:
    return ngettext("Press Check connection again within {n} second to switch them on; nothing changes otherwise.",
                    "Press Check connection again within {n} seconds to switch them on; nothing changes otherwise.",
                    seconds).format(n=seconds)


def wait_line(reason: str, waited: float, limit: float) -> str:
    """The progress cell (Lite) while a button that is not a run waits for GREEN-API (``waiting``)."""
    return f"{TITLE}: " + waiting(reason, waited, limit)


def stop_word() -> str:
    """What the Stop button writes into the stop cell."""
    return _("stop")


# --- the command line -------------------------------------------------------------------------------------

def summary_table(summary, *, written=None, sheet: str | None = None, columns: tuple[str, str] | None = None,
                  labels: int = 0, nothing_written: bool = False) -> str:
    """The command line's summary: a table of the status counts, the pace, and where the results went."""
    order = [w for w in st.ALL if summary.counts.get(w)] + [w for w in summary.counts if w not in st.ALL]
    shown = {word: st.localised(word) for word in order}
    title, rows_title, total = _("Status"), _("Rows"), _("Total")
    width = max([len(shown[w]) for w in order] + [6, len(title), len(total)])
    count_width = max(4, len(rows_title))
    lines = ["", f"{title:<{width}}  {rows_title:>{count_width}}", f"{'-' * width}  {'-' * count_width}"]
    lines += [f"{shown[word]:<{width}}  {summary.counts[word]:>{count_width}}" for word in order]
    lines.append(f"{'-' * width}  {'-' * count_width}")
    lines.append(f"{total:<{width}}  {summary.rows:>{count_width}}")
    rate = summary.calls / summary.seconds if summary.seconds > 0 else 0.0
    lines.append("")
    lines.append(ngettext("{n} call in {seconds:.1f} s ({rate:.1f}/s)", "{n} calls in {seconds:.1f} s ({rate:.1f}/s)",
                          summary.calls).format(n=summary.calls, seconds=summary.seconds, rate=rate))
    if summary.hidden:
        lines.append(ngettext("Skipped {n} hidden row (a filter, or hidden by hand); --include-hidden acts on it too",
                              "Skipped {n} hidden rows (a filter, or hidden by hand); --include-hidden acts on "
                              "them too", summary.hidden).format(n=summary.hidden))
    if summary.run_id:
        lines.append(_("Run {run} (greenapi-excel undo --run {run} takes it back)").format(run=summary.run_id))
    if summary.stopped:
        lines.append(_("Stopped early: {reason}").format(reason=summary.stopped))
    if labels:
        lines.append(ngettext("Skipped {n} merged label (a merge from the chat column into the result columns): no "
                              "status, the merge kept", "Skipped {n} merged labels (merges from the chat column into "
                              "the result columns): no status, the merges kept", labels).format(n=labels))
    if written is not None and nothing_written:
        lines.append(_("Nothing was written: no cell of {path} changed").format(path=written))
    elif written is not None:
        where = (_("columns {first}:{last}").format(first=columns[0], last=columns[1]) if columns
                 else _("the result columns"))
        lines.append(_("Results written to {path} (sheet {sheet}, {columns})").format(path=written, sheet=sheet,
                                                                                     columns=where))
    return "\n".join(lines)


def book_line(book: str, sheet: str, column: str, plan) -> str:
    return _("{book} [{sheet}] column {column}: {plan}").format(book=book, sheet=sheet, column=column,
                                                               plan=plan_line(plan))


def result_line(chat_id: str, status: str, details: str) -> str:
    return f"{chat_id:<28}  {st.localised(status):<18}  {details}"


def interrupted() -> str:
    return _("interrupted")


def error_line(message: str) -> str:
    return _("greenapi-excel: error: {message}").format(message=message)


# The console's names of the settings that feed the journals (docs: journals/LastIncomingMessages, ...).
OUTGOING_SETTING = N_("Receive webhooks on messages sent from phone")


def setting_name(key: str) -> str:
    """``"Receive webhooks on incoming messages and files" (incomingWebhook)``: as the console and the API name it."""
    name = _(WEBHOOK_SETTING) if key == "incomingWebhook" else _(OUTGOING_SETTING)
    return f'"{name}" ({key})'


def check_lines(credentials, outcome) -> list[str]:
    """``check``: the instance's state (what it means, what to do), the two settings that feed the journals
    and since when, and whether the journals can support an idle rule."""
    lines = [f"apiUrl {credentials.api_url}, idInstance {credentials.id_instance}: stateInstance {outcome.state}",
             sentence(instance_state(outcome.state))]
    if outcome.restarting:
        lines.append(sentence(restarting(outcome.retry_at)))
    if not outcome.state_works:
        return lines
    for key, value in outcome.settings().items():
        when = outcome.since.get(key)
        if value is None:
            answer = _("unknown (getSettings did not say)")
        elif value != "yes":
            answer = _("off")
        elif when is not None:
            answer = _("on, since {when} (switched on by this tool)").format(when=f"{when:%Y-%m-%d %H:%M}")
        else:
            answer = _("on (since when is not known: it was switched on outside this tool)")
        lines.append(f"{setting_name(key)}: {answer}")
    lines.append(idle_rule(outcome))
    return lines


def idle_rule(outcome) -> str:
    """Whether the journals can tell idle chats (Load chats' Idle days, --idle-days), and how far back."""
    settings = outcome.settings()
    off = [key for key, value in settings.items() if value != "yes"]
    if off:
        return _("Idle rule (--idle-days, Idle days): not supported while {settings} is not on; every chat with "
                 "no message in the journals counts as unknown, never idle. check --fix switches it on.").format(
            settings=_(" and ").join(setting_name(key) for key in off))
    known = [outcome.since.get(key) for key in settings]
    if all(when is None for when in known):
        return _("Idle rule (--idle-days, Idle days): supported as far back as the journals reach (their last "
                 "10,000 messages), assuming both settings were on all that time: this tool did not switch them "
                 "on and cannot see since when they are.")
    reach = outcome.idle_rule_reach()
    return ngettext("Idle rule (--idle-days, Idle days): {why}; a chat with no message in the journals is idle for "
                    "at most {n} day as far as is known, and unknown, never idle, for a rule of more days.",
                    "Idle rule (--idle-days, Idle days): {why}; a chat with no message in the journals is idle for "
                    "at most {n} days as far as is known, and unknown, never idle, for a rule of more days.",
                    reach.days).format(n=reach.days, why=reach.describe())


def not_authorized_check() -> str:
    return _("the instance is not authorized: link WhatsApp to it in the GREEN-API console")


def switched_on_line(outcome=None) -> str:
    """``check --fix`` switched settings on: which, and that older messages never reach the journals."""
    keys = outcome.switched if outcome is not None and outcome.switched else ("incomingWebhook",)
    names = _(" and ").join(setting_name(key) for key in keys)
    line = _("Switched {settings} on (setSettings).").format(settings=names)
    if outcome is not None and outcome.restarting:
        return line + " " + sentence(restarting(outcome.retry_at)) + " " + sentence(before_switch())
    if outcome is not None:
        return line + " " + _("GREEN-API shows them on now.") + " " + sentence(before_switch())
    return line + " " + _("GREEN-API applies it within 5 minutes: wait that long before archiving.")


def before_switch() -> str:
    return _("messages from before the switch never reach the journals (GREEN-API: only a logout and a new "
             "authorization of the instance bring older ones in), so idle days are known only from now on")


def restarting(retry_at) -> str:
    when = f"{retry_at:%H:%M}" if retry_at is not None else "?"
    return _("the instance is still restarting (GREEN-API answers \"instance in starting process\"), which takes "
             "up to 5 minutes: try again after {when}").format(when=when)


def switch_on_question(instance: str, keys) -> str:
    names = _(" and ").join(setting_name(key) for key in keys)
    lines = [_("Instance {instance} is authorized, but {settings} is off.").format(instance=instance, settings=names)]
    if "incomingWebhook" in keys:
        lines.append(sentence(_("archiveChat works only when incomingWebhook is on")))
    lines.append(sentence(_("the idle rule (Load chats' Idle days) needs both settings on")))
    lines.append(_("Switch them on now? GREEN-API restarts the instance to apply them (up to 5 minutes); messages "
                   "from before the switch never reach the journals. (They can also be switched on in the "
                   "instance's settings in the GREEN-API console.)"))
    return "\n\n".join([lines[0], " ".join(lines[1:-1]), lines[-1]])


def switched_on_alert(instance: str, outcome) -> str:
    return _("Instance {instance}: {line}").format(instance=instance, line=switched_on_line(outcome))


def still_restarting_alert(instance: str, outcome) -> str:
    return _("Instance {instance}: {state}").format(instance=instance, state=sentence(restarting(outcome.retry_at)))


def chats_loaded(chats: str, book, sheet: str, window: int, days: int, command: str, reach=None) -> list[str]:
    lines = [ngettext("Loaded {chats} into {book} (sheet {sheet}); message times over the last {n} day.",
                      "Loaded {chats} into {book} (sheet {sheet}); message times over the last {n} days.",
                      days).format(chats=chats, book=book, sheet=sheet, n=days)]
    if window < days:
        lines.append(journal_reach(window, days, reach))
    lines.append(_("Filter it, then: {command}").format(command=command))
    return lines


def journal_reach(window: int, days: int, reach=None) -> str:
    from greenapi_excel.chatlist import JOURNAL_LIMIT

    if reach is not None and reach.cause != "journal full":
        return _("{why}: a chat with no message in the journals says unknown in Idle days, never a number.").format(
            why=sentence(reach.describe())[:-1])
    return ngettext("GREEN-API's journals hold its last {limit:,} messages: they reach back {n} day, not {days}, so "
                    "the sheet says what is known for {n} day.",
                    "GREEN-API's journals hold its last {limit:,} messages: they reach back {n} days, not {days}, so "
                    "the sheet says what is known for {n} days.", window).format(limit=JOURNAL_LIMIT, n=window,
                                                                                days=days)


def chats_loaded_alert(chats: str, sheet: str, window: int, reach=None) -> str:
    from greenapi_excel.chatlist import DEFAULT_DAYS

    cut = " " + journal_reach(window, DEFAULT_DAYS, reach) if window < DEFAULT_DAYS else ""
    return (ngettext("Loaded {chats} into sheet {sheet} (message times over the last {n} day).",
                     "Loaded {chats} into sheet {sheet} (message times over the last {n} days).",
                     DEFAULT_DAYS).format(chats=chats, sheet=sheet, n=DEFAULT_DAYS)
            + cut + " " + _("Filter it, then press Dry run or Archive chats: they act on the visible rows only."))


def reading_chats(instance: str) -> str:
    return f"{TITLE}: " + _("reading the chats of instance {instance}...").format(instance=instance)


def all_chats_reach(window: int, days: int, reach=None) -> str:
    from greenapi_excel.chatlist import JOURNAL_LIMIT

    if reach is not None and reach.cause != "journal full":
        return _("{why}: chats not known to be idle {days} days are left alone (--include-unknown takes them "
                 "too)").format(why=sentence(reach.describe())[:-1], days=days)
    return ngettext("GREEN-API's journals reach back only {n} day (their last {limit:,} messages): chats not known "
                    "to be idle {days} days are left alone",
                    "GREEN-API's journals reach back only {n} days (their last {limit:,} messages): chats not known "
                    "to be idle {days} days are left alone", window).format(n=window, limit=JOURNAL_LIMIT, days=days)


def all_chats_chosen(instance: str, n: int, chat_type: str | None, idle_days: int | None) -> str:
    rule = ", ".join(p for p in (chat_type and _("type {type}").format(type=chat_type),
                                 idle_days is not None and _("idle {n}+ days").format(n=idle_days)) if p)
    return ngettext("instance {instance}: {n} chat chosen", "instance {instance}: {n} chats chosen", n).format(
        instance=instance, n=n) + (f" ({rule})" if rule else "")


def all_chats_unknown(choice, report: bool) -> str:
    """The summary's line about the chats --idle-days could not call idle (``chatlist.Choice``)."""
    line = sentence(choice.describe_unknown())
    if report and not choice.included:
        line += " " + _("The report lists them below the chosen ones, without a status; their Idle days says why.")
    return line


def keep_archived_line(found) -> str:
    """``--keep-archived``: how many chats this tool archived, and how many WhatsApp has brought back."""
    line = ngettext("{n} chat archived by this tool (the journal);", "{n} chats archived by this tool (the journal);",
                    found.archived).format(n=found.archived)
    line += " " + ngettext("{n} of them is back in the chat list and is archived again",
                           "{n} of them are back in the chat list and are archived again", found.back).format(
        n=found.back)
    if found.unlisted:
        line += "; " + ngettext("{n} is not in GREEN-API's chat list under any ID known (gone?) and was left alone",
                                "{n} are not in GREEN-API's chat list under any ID known (gone?) and were left alone",
                                found.unlisted).format(n=found.unlisted)
    return line + "."


def include_unknown_alone() -> str:
    return _("--include-unknown goes with --all-chats --idle-days N")


def keep_archived_alone() -> str:
    return _("--keep-archived re-archives the chats this tool archived: it takes no --type, --idle-days or "
             "--include-unknown")


# --- verify ---------------------------------------------------------------------------------------------

def nothing_to_verify(where_text: str) -> str:
    return _("No row in {where} says Archived, Already archived, Unarchived or Already unarchived: there is nothing "
             "to verify. Verify checks what an earlier run wrote.").format(where=where_text)


def verify_summary(outcome) -> str:
    """What verify found, for the terminal and the message box."""
    found = outcome.verified
    lines = [ngettext("Verify: {n} row checked in {where} against GREEN-API's chat list ({when}).",
                      "Verify: {n} rows checked in {where} against GREEN-API's chat list ({when}).",
                      outcome.checked).format(n=outcome.checked, where=outcome.where,
                                              when=f"{found.checked_at:%Y-%m-%d %H:%M}")]
    lines.append(ngettext("{n} holds as its status says.", "{n} hold as their statuses say.", found.confirmed).format(
        n=found.confirmed))
    if found.contradicted:
        lines.append(ngettext("{n} does not: {counts} (Details says when and the likely causes).",
                              "{n} do not: {counts} (Details says when and the likely causes).",
                              len(found.contradicted)).format(n=len(found.contradicted),
                                                              counts=status_counts(_counted(found.contradicted))))
    if found.resolved:
        lines.append(ngettext("{n} found otherwise before is as wanted now: {counts}.",
                              "{n} found otherwise before are as wanted now: {counts}.", len(found.resolved)).format(
            n=len(found.resolved), counts=status_counts(_counted(found.resolved))))
    if found.unlisted:
        lines.append(ngettext("{n} chat is not in the chat list (gone?): left as it is.",
                              "{n} chats are not in the chat list (gone?): left as they are.",
                              found.unlisted).format(n=found.unlisted))
    if found.unmatched:
        lines.append(ngettext("{n} chat may be in the list under its other ID (@lid or number), which could not be "
                              "matched: left as it is.",
                              "{n} chats may be in the list under their other ID (@lid or number), which could not "
                              "be matched: left as they are.", found.unmatched).format(n=found.unmatched))
    return "\n".join(lines)


def as_wanted_now(method: str, when) -> str:
    """Details of a row verify had found otherwise, that the chat list now shows as the run wanted it."""
    stamp = f"{when:%Y-%m-%d %H:%M}"
    if method == methods.ARCHIVE:
        return _("checked {when}: GREEN-API's chat list shows it archived now (not by this tool)").format(when=stamp)
    return _("checked {when}: GREEN-API's chat list shows it unarchived now (not by this tool)").format(when=stamp)


def _counted(results) -> dict:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def verify_fix_hint() -> str:
    return _("Archive chats (or Unarchive chats) sends them again, or: greenapi-excel verify BOOK --fix.")


def verify_question(count: int) -> str:
    return ngettext("Send that {n} chat again now? (A chat GREEN-API claims is done already is unarchived and "
                    "archived again, as GREEN-API advises.)",
                    "Send those {n} chats again now? (A chat GREEN-API claims is done already is unarchived and "
                    "archived again, as GREEN-API advises.)", count).format(n=count)


def verify_too_soon(seconds: float) -> str:
    return _("This tool changed one of these chats moments ago, and GREEN-API refreshes its chat list at most once a "
             "minute, so it may not show the change yet: press Verify again in {time}.").format(
        time=duration(seconds))


def verify_other_method_later(method: str) -> str:
    return _("Rows to {verb} again are left for now: press Verify again when this run is over.").format(
        verb=_(methods.of(method).verb))


def undo_line(found) -> str:
    n = len(found.chats)
    return ngettext("Undo of run {run} ({what} from {where}, {started}): {verb} that {n} chat.",
                    "Undo of run {run} ({what} from {where}, {started}): {verb} those {n} chats.", n).format(
        run=found.run.id, what=found.what, where=found.where, started=f"{found.run.started:%Y-%m-%d %H:%M}",
        verb=found.verb, n=n)


def undo_prompt(found) -> str:
    return ngettext("{verb} {n} chat? [y/N] ", "{verb} {n} chats? [y/N] ", len(found.chats)).format(
        verb=found.verb.capitalize(), n=len(found.chats))


def undo_needs_yes() -> str:
    return _("undo asks before it acts, and there is no terminal to ask in: add --yes to go ahead (or --dry-run to "
             "see what it would do)")


def undo_statuses_printed(error) -> str:
    return _("the run's book cannot take the statuses ({error}); they are printed instead").format(error=error)


def wrote_workbook(path, python: str) -> str:
    return _("Wrote {path}: its xlwings.conf sheet points at {python}. Open it in Excel and enable macros.").format(
        path=path, python=python)


def wrote_lite_workbook(path) -> str:
    return _("Wrote {path}: open it in Excel with the xlwings Lite add-in (Home > Add-ins).").format(path=path)


def journal_empty() -> str:
    return _("the journal holds no calls yet")


def no_runs() -> str:
    return _("the journal holds no runs yet")


def run_listing(run) -> str:
    """One line of ``journal --runs``."""
    from pathlib import PurePath

    what = (_("dry run") + " " if run.dry_run else "") + _(methods.of(run.method).verb) \
        if run.method in methods.TABLE else run.method
    if run.undo_of:
        what += " " + _("(undo)")
    where_text = f"{PurePath(run.book).name} [{run.sheet}]" if run.book else "-"
    counts = status_counts(run.counts) or (_("(did not finish)") if run.finished is None else _("nothing"))
    undo = "  " + _("undoes {run}").format(run=run.undo_of) if run.undo_of else ""
    return (f"{run.id:<21}  {run.started:%Y-%m-%d %H:%M}  {run.source[:16]:<16}  {what[:17]:<17}  "
            f"{where_text[:30]:<30}  {counts}{undo}")


def runs_header() -> str:
    return (f"{_('run'):<21}  {_('started'):<16}  {_('source'):<16}  {_('what'):<17}  {_('book [sheet]'):<30}  "
            + _("counts"))


def journal_listing(entry) -> str:
    return (f"{entry.time:%Y-%m-%d %H:%M:%S}  {entry.instance}  {entry.method:<13}  {entry.chat_id:<28}  "
            f"{entry.state:<9}  {st.localised(entry.status or ''):<18}  {entry.details or ''}")


def out_exists(out) -> str:
    return _("{out} exists already: add --force to replace it, or choose another --out").format(out=out)


def give_book(command: str) -> str:
    return _("give the BOOK to {command}, or --all-chats for the instance's own chat list").format(command=command)


def all_chats_flags_alone() -> str:
    return _("--type, --idle-days and --report go with --all-chats")


def all_chats_no_book() -> str:
    return _("--all-chats acts on the instance's own chat list: give no BOOK (use --report to keep one)")
