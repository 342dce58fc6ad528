@echo off
rem GreenApi for Excel on Windows: double-click this file to install it, or to update it from a newer download.
rem
rem It finds Python 3.10 or newer (the py launcher, else python.org's installs, else python on the PATH),
rem makes GreenApi's own Python environment in %LOCALAPPDATA%\GreenApiExcel\venv, installs this folder into
rem it (so nothing goes into the Python you installed, and xlwings' DLL lands where Excel looks for it),
rem writes Documents\GreenApi.xlsm (never over a book that is there) and puts the GreenApi tab into every
rem workbook (the add-in, in XLSTART). Safe to run again: it updates in place. Everything it does is logged
rem in %LOCALAPPDATA%\GreenApiExcel\install.log. Its own lines are English; the last step speaks the
rem language of Windows.
rem
rem Pythons are started by path without .exe (cmd finds python.exe through PATHEXT), with call: a test can
rem stand a .cmd in for them. Messages avoid the characters cmd treats specially.
setlocal EnableExtensions DisableDelayedExpansion
set "SOURCE=%~dp0"
set "SOURCE=%SOURCE:~0,-1%"
set "HOME_DIR=%LOCALAPPDATA%\GreenApiExcel"
set "VENV=%HOME_DIR%\venv"
set "VENV_PYTHON=%HOME_DIR%\venv\Scripts\python"
set "LOG=%HOME_DIR%\install.log"
set "STATUS=1"
if not exist "%HOME_DIR%\" mkdir "%HOME_DIR%"
rem Python runs from there: `python -m` looks in the current folder first, which must not be this download
rem (a double-click starts in it), whose sources would hide the installed package.
cd /d "%HOME_DIR%"
>>"%LOG%" echo.
>>"%LOG%" echo ==== %DATE% %TIME%  %SOURCE%

call :say "GreenApi for Excel: installing. A log is kept in %LOG%"
call :say "Quit Excel first if it is open."
if not exist "%SOURCE%\pyproject.toml" (
  call :say "This file must be run from the unzipped download: right-click the .zip file, choose Extract All,"
  call :say "then double-click Install GreenApi.cmd in the extracted folder."
  goto :finish
)

rem --- 1. Python 3.10 or newer, with venv -------------------------------------------------------------
call :say "1. Looking for Python 3.10 or newer..."
set "PYTHON="
call :try_python py -3
for %%V in (316 315 314 313 312 311 310) do if not defined PYTHON call :try_python "%LOCALAPPDATA%\Programs\Python\Python%%V\python"
for %%V in (316 315 314 313 312 311 310) do if not defined PYTHON call :try_python "%ProgramFiles%\Python%%V\python"
if not defined PYTHON call :try_python python
if not defined PYTHON (
  call :say "GreenApi needs Python 3.10 or newer, and this computer has none it can use."
  call :say "Get it from https://www.python.org/downloads/windows/ - run the installer, tick Add python.exe to PATH"
  call :say "and click Install Now. If it asks for an administrator and you are none, untick Use admin privileges"
  call :say "when installing py.exe and try again. Then double-click Install GreenApi.cmd again."
  goto :finish
)
set "SHOWN=%PYTHON:"=%"
call :say "   Found: %SHOWN%"

rem --- 2. GreenApi's own environment --------------------------------------------------------------------
call :say "2. Making GreenApi's own Python environment in %VENV% ..."
if exist "%VENV%\pyvenv.cfg" (
  call "%VENV_PYTHON%" -c "import sys; sys.exit(sys.version_info < (3, 10))" >>"%LOG%" 2>&1
  if not errorlevel 1 (
    call :say "   It is there already: it will be updated."
    goto :install
  )
)
call %PYTHON% -m venv --clear "%VENV%" >>"%LOG%" 2>&1
if errorlevel 1 (
  call :say "   It could not be made: the log says why."
  goto :finish
)

rem --- 3. This download, installed into it -------------------------------------------------------------
:install
call :say "3. Installing GreenApi for Excel into it: a few minutes the first time, and it needs the internet..."
call "%VENV_PYTHON%" -m pip install --upgrade --disable-pip-version-check "%SOURCE%" >>"%LOG%" 2>&1
if errorlevel 1 (
  call :say "   Installing failed: the end of the log says why. Quit Excel if it is open, and try again."
  goto :finish
)

rem --- 4. The workbook and the add-in (the package's own installer step, in the analyst's language) -----
call :say "4. Writing your workbook and the GreenApi tab for every workbook..."
call "%VENV_PYTHON%" -m greenapi_excel.installer --log "%LOG%"
if not errorlevel 1 set "STATUS=0"

:finish
echo.
if "%STATUS%"=="0" (
  call :say "Done."
) else (
  call :say "Not finished: see the messages above, and the log: %LOG%"
)
pause
exit /b %STATUS%

rem --- helpers ------------------------------------------------------------------------------------------
:say
rem One line on the screen and in the log. Delayed expansion prints it as it is.
set "LINE=%~1"
setlocal EnableDelayedExpansion
echo.!LINE!
>>"!LOG!" echo.!LINE!
endlocal
exit /b 0

:try_python
rem PYTHON becomes the command given when it is a Python 3.10 or newer that can make a virtual environment.
>>"%LOG%" echo Trying %*
call %* -c "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))" >>"%LOG%" 2>&1
if errorlevel 1 exit /b 0
set PYTHON=%*
exit /b 0
