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


def not_authorized(state: str) -> str:
    return _("the instance is not ready (stateInstance is {state!r}): link WhatsApp to it in the GREEN-API "
             "console").format(state=state)


def connected(instance: str, url: str) -> str:
    return _("Connected: instance {instance} at {url} is authorized and ready.").format(instance=instance, url=url)


def state_problem(instance: str, state: str) -> str:
    return _("Instance {instance} answers, but its state is {state!r}: link WhatsApp to it in the GREEN-API "
             "console.").format(instance=instance, state=state)


def webhook_question(instance: str) -> str:
    return _("Instance {instance} is authorized, but {problem}\n\nSwitch \"{setting}\" on now?").format(
        instance=instance, problem=sentence(webhook_off()), setting=_(WEBHOOK_SETTING))


def webhook_left_off() -> str:
    return _("Left off. Archive chats will stop before changing anything until \"{setting}\" is on.").format(
        setting=_(WEBHOOK_SETTING))


def webhook_switched_on(instance: str) -> str:
    return _("\"{setting}\" is switched on for instance {instance}. GREEN-API applies it within 5 minutes: wait "
             "that long before archiving.").format(setting=_(WEBHOOK_SETTING), instance=instance)


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


def progress_line(done: int, total: int, pace: float | None) -> str:
    """``GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left``; the pace and time left once known."""
    parts = [f"{TITLE}: " + _("{done} of {total}").format(done=f"{done:,}", total=f"{total:,}")]
    if pace and pace > 0:
        parts.append(_("{pace}/s").format(pace=f"{pace:.1f}"))
        if done < total:
            parts.append(_("about {time} left").format(time=duration((total - done) / pace)))
    return " \u00b7 ".join(parts)


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


def check_lines(credentials, outcome) -> list[str]:
    """``check``: the instance's state and the setting archiveChat needs."""
    lines = [f"apiUrl {credentials.api_url}, idInstance {credentials.id_instance}: stateInstance {outcome.state}"]
    if outcome.state == "authorized":
        answer = outcome.webhook or _("unknown (getSettings did not say)")
        lines.append(f"incomingWebhook ({_(WEBHOOK_SETTING)}): {answer}")
    return lines


def not_authorized_check() -> str:
    return _("the instance is not authorized: link WhatsApp to it in the GREEN-API console")


def switched_on_line() -> str:
    return _('Switched "{setting}" on (setSettings incomingWebhook=yes). GREEN-API applies it within 5 minutes: '
             "wait that long before archiving.").format(setting=_(WEBHOOK_SETTING))


def chats_loaded(chats: str, book, sheet: str, window: int, days: int, command: str) -> list[str]:
    lines = [ngettext("Loaded {chats} into {book} (sheet {sheet}); message times over the last {n} day.",
                      "Loaded {chats} into {book} (sheet {sheet}); message times over the last {n} days.",
                      window).format(chats=chats, book=book, sheet=sheet, n=window)]
    if window < days:
        lines.append(journal_reach(window, days))
    lines.append(_("Filter it, then: {command}").format(command=command))
    return lines


def journal_reach(window: int, days: int) -> str:
    from greenapi_excel.chatlist import JOURNAL_LIMIT

    return ngettext("GREEN-API's journals hold its last {limit:,} messages: they reach back {n} day, not {days}, so "
                    "the sheet says what is known for {n} day.",
                    "GREEN-API's journals hold its last {limit:,} messages: they reach back {n} days, not {days}, so "
                    "the sheet says what is known for {n} days.", window).format(limit=JOURNAL_LIMIT, n=window,
                                                                                days=days)


def chats_loaded_alert(chats: str, sheet: str, window: int) -> str:
    from greenapi_excel.chatlist import DEFAULT_DAYS, JOURNAL_LIMIT

    cut = (" " + ngettext("GREEN-API's journals hold its last {limit:,} messages, which reach back only {n} day.",
                          "GREEN-API's journals hold its last {limit:,} messages, which reach back only {n} days.",
                          window).format(limit=JOURNAL_LIMIT, n=window) if window < DEFAULT_DAYS else "")
    return (ngettext("Loaded {chats} into sheet {sheet} (message times over the last {n} day).",
                     "Loaded {chats} into sheet {sheet} (message times over the last {n} days).",
                     window).format(chats=chats, sheet=sheet, n=window)
            + cut + " " + _("Filter it, then press Dry run or Archive chats: they act on the visible rows only."))


def reading_chats(instance: str) -> str:
    return f"{TITLE}: " + _("reading the chats of instance {instance}...").format(instance=instance)


def all_chats_reach(window: int, days: int) -> str:
    from greenapi_excel.chatlist import JOURNAL_LIMIT

    return ngettext("GREEN-API's journals reach back only {n} day (their last {limit:,} messages): chats not known "
                    "to be idle {days} days are left alone",
                    "GREEN-API's journals reach back only {n} days (their last {limit:,} messages): chats not known "
                    "to be idle {days} days are left alone", window).format(n=window, limit=JOURNAL_LIMIT, days=days)


def all_chats_chosen(instance: str, n: int, chat_type: str | None, idle_days: int | None) -> str:
    rule = ", ".join(p for p in (chat_type and _("type {type}").format(type=chat_type),
                                 idle_days is not None and _("idle {n}+ days").format(n=idle_days)) if p)
    return ngettext("instance {instance}: {n} chat chosen", "instance {instance}: {n} chats chosen", n).format(
        instance=instance, n=n) + (f" ({rule})" if rule else "")


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
