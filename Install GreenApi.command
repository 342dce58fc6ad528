#!/bin/bash
# GreenApi for Excel on a Mac: double-click this file to install it, or to update it from a newer download.
#
# It finds Python 3.10 or newer (python.org's, else Homebrew's, else python3 on the PATH), makes GreenApi's own
# Python environment in ~/Library/GreenApiExcel/venv, installs this folder into it (so nothing goes into the
# Python you installed), writes Documents/GreenApi.xlsm (never over a book that is there), puts the GreenApi tab
# into every workbook (the add-in) and lets Excel start Python (xlwings runpython install). Safe to run again:
# it updates in place. Everything it does is logged in ~/Library/GreenApiExcel/install.log.
#
# The environment is not under ~/Library/Application Support: xlwings starts Python on a Mac without quotes,
# so its path must hold no space. Elsewhere (Linux) it goes where greenapi_excel/paths.py keeps state.
# GREENAPI_INSTALL_SKIP_MAC_STEPS=1 skips the steps only a Mac can run and says what they would have run.

SOURCE="$(cd "$(dirname "$0")" && pwd)"
if [ "$(uname -s)" = Darwin ]; then
  MAC=1
  HOME_DIR="$HOME/Library/GreenApiExcel"
else
  MAC=""
  HOME_DIR="${XDG_STATE_HOME:-$HOME/.local/state}/greenapi-excel"
fi
VENV="$HOME_DIR/venv"
VENV_PYTHON="$VENV/bin/python"
LOG="$HOME_DIR/install.log"

say() {
  printf '%s\n' "$*"
  printf '%s\n' "$*" >> "$LOG"
}

finish() {
  echo
  if [ "$1" = 0 ]; then
    say "Done."
  else
    say "Not finished: see the messages above, and the log: $LOG"
  fi
  printf '%s' "Press any key to close this window."
  read -r -n 1 -s _ 2> /dev/null   # with no terminal to read from it returns at once
  echo
  exit "$1"
}

# Per-user files are private: the folder 0700, the log 0600. Python runs from there: `python -m` looks in the
# current folder first, which must not be a download holding the package's sources.
mkdir -p "$HOME_DIR" && chmod 700 "$HOME_DIR" && cd "$HOME_DIR" || { echo "Cannot make $HOME_DIR"; exit 1; }
touch "$LOG" && chmod 600 "$LOG"
printf '\n==== %s  %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$SOURCE" >> "$LOG"

say "GreenApi for Excel: installing. A log is kept in $LOG"
say "Quit Excel first if it is open."
if [ ! -f "$SOURCE/pyproject.toml" ]; then
  say "This file must be run from the unzipped download: double-click the .zip file first, then double-click"
  say "Install GreenApi.command in the folder that appears."
  finish 1
fi

# --- 1. Python 3.10 or newer, with venv ----------------------------------------------------------------
say "1. Looking for Python 3.10 or newer..."
usable() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >> "$LOG" 2>&1
}
PYTHON=""
candidates=""
if [ -n "$MAC" ]; then
  # python.org's installers, newest first; then Homebrew's. Never /usr/bin/python3: on a Mac without the
  # developer tools it opens an installer dialog, and it is Python 3.9 anyway.
  candidates=$(printf '%s\n' /Library/Frameworks/Python.framework/Versions/3.*/bin/python3 | sort -t. -k2,2nr)
  candidates="$candidates
/opt/homebrew/bin/python3
/usr/local/bin/python3"
fi
on_path=$(command -v python3)
if [ -n "$on_path" ] && { [ -z "$MAC" ] || [ "$on_path" != /usr/bin/python3 ]; }; then
  candidates="$candidates
$on_path"
fi
while IFS= read -r candidate; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && usable "$candidate"; then
    PYTHON=$candidate
    break
  fi
done <<< "$candidates"
if [ -z "$PYTHON" ]; then
  say "GreenApi needs Python 3.10 or newer, and this computer has none it can use."
  say "Get it from https://www.python.org/downloads/macos/ : open the downloaded file and click Continue,"
  say "Agree and Install (there is nothing to tick). Then double-click Install GreenApi.command again."
  finish 1
fi
say "   Found: $PYTHON"

# --- 2. GreenApi's own environment ---------------------------------------------------------------------
say "2. Making GreenApi's own Python environment in $VENV ..."
if [ -x "$VENV_PYTHON" ] && "$VENV_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >> "$LOG" 2>&1; then
  say "   It is there already: it will be updated."
elif ! "$PYTHON" -m venv --clear "$VENV" >> "$LOG" 2>&1; then
  say "   It could not be made: the log says why."
  finish 1
fi

# --- 3. This download, installed into it ----------------------------------------------------------------
say "3. Installing GreenApi for Excel into it: a few minutes the first time, and it needs the internet..."
if ! "$VENV_PYTHON" -m pip install --upgrade --disable-pip-version-check "$SOURCE" >> "$LOG" 2>&1; then
  say "   Installing failed. The end of the log says why:"
  tail -n 12 "$LOG"
  finish 1
fi

# --- 4. RunPython for Excel for Mac ----------------------------------------------------------------------
status=0
step=4
if [ -n "$MAC" ]; then
  say "4. Letting Excel start Python (xlwings runpython install)..."
  step=5
  if [ -n "$GREENAPI_INSTALL_SKIP_MAC_STEPS" ]; then
    say "   Skipped (GREENAPI_INSTALL_SKIP_MAC_STEPS is set). A Mac runs: $VENV_PYTHON -m xlwings.cli runpython install"
  elif "$VENV_PYTHON" -m xlwings.cli runpython install >> "$LOG" 2>&1; then
    say "   Done."
  else
    say "   It did not work: the log says why. Run Install GreenApi.command again, or in Terminal:"
    say "   \"$VENV_PYTHON\" -m xlwings.cli runpython install"
    status=1
  fi
fi

# --- 5. The workbook and the add-in (the package's own installer step, in the analyst's language) ---------
say "$step. Writing your workbook and the GreenApi tab for every workbook..."
"$VENV_PYTHON" -m greenapi_excel.installer --log "$LOG" || status=1

finish "$status"
