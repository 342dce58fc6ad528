"""Credentials and the user's config file.

Each of apiUrl, idInstance and apiTokenInstance is taken from the first place that has it:

1. the CLI flags (``--api-url``, ``--id-instance``, ``--api-token``), or the add-in's explicit values;
2. the environment: ``GREENAPI_API_URL``, ``GREENAPI_ID_INSTANCE``, ``GREENAPI_API_TOKEN_INSTANCE``;
3. the workbook's settings area (apiUrl and idInstance only: a token found there is ignored);
4. the user config file, section ``[greenapi]``: ``api_url``, ``id_instance`` (and ``region``);
5. for the token only: the OS keychain (``keyring``; service ``GreenApiExcel``, user = idInstance),
   where the workbook's Settings button puts it.

apiUrl defaults to ``https://api.green-api.com``.

The default region (the country of numbers written without one) follows the same order, in
``resolve_region``: ``--region``, ``GREENAPI_REGION``, the book's Settings sheet ("region"), ``region`` in
the config file. The CLI, the ribbon and the worksheet functions all call it.

The config file lives at ``GREENAPI_CONFIG`` if set, else
Windows ``%APPDATA%\\GreenApiExcel\\config.ini``, macOS ``~/Library/Application Support/GreenApiExcel/config.ini``,
Linux ``${XDG_CONFIG_HOME:-~/.config}/greenapi-excel/config.ini``. ``save_config`` never writes a token
there. A user may put ``api_token`` in it by hand and it will be read, but the file is plain text that
backups and sync tools copy: the keychain or the environment are the better places.

The token never comes from, and never goes into, a workbook, an exception text or a log line.
"""

from __future__ import annotations

import configparser
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping

from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import _
from greenapi_excel import paths

DEFAULT_API_URL = "https://api.green-api.com"
KEYRING_SERVICE = "GreenApiExcel"
SECTION = "greenapi"

ENV_API_URL = "GREENAPI_API_URL"
ENV_ID_INSTANCE = "GREENAPI_ID_INSTANCE"
ENV_API_TOKEN = "GREENAPI_API_TOKEN_INSTANCE"
ENV_CONFIG = "GREENAPI_CONFIG"
ENV_REGION = "GREENAPI_REGION"

# Keys the workbook's settings area may use for each field (the sheet shows camelCase labels).
_SHEET_KEYS = {
    "api_url": ("api_url", "apiUrl", "apiurl"),
    "id_instance": ("id_instance", "idInstance", "idinstance"),
    "region": ("region",),
}
_DIGITS = re.compile(r"^[0-9]+$")
_FLOAT_WHOLE = re.compile(r"^([0-9]+)\.0*$")


# --- where the config file lives -------------------------------------------------------------

def config_path() -> Path:
    """``GREENAPI_CONFIG`` if set, else the per-user config folder of this OS (``paths.config_file``)."""
    return paths.config_file()


def load_config(path: str | os.PathLike | None = None) -> dict[str, str]:
    """The ``[greenapi]`` section of the config file as a dict ({} when there is no file)."""
    target = Path(path) if path else config_path()
    parser = _read_ini(target)
    if not parser.has_section(SECTION):
        return {}
    return {key: value.strip() for key, value in parser.items(SECTION) if value.strip()}


def _read_ini(target: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    if not target.exists():
        return parser
    try:
        with open(target, encoding="utf-8-sig") as f:
            parser.read_file(f)
    except (configparser.Error, UnicodeDecodeError) as error:
        # The parser's message may quote a line of the file, and that line may be the token.
        raise ConfigError(_("the config file {path} cannot be read ({error}); fix it or point {variable} at "
                            "another file").format(path=target, error=type(error).__name__, variable=ENV_CONFIG)) from None
    except OSError as error:
        raise ConfigError(_("the config file {path} cannot be read ({error}); point {variable} at another "
                            "file").format(path=target, error=error.strerror or error, variable=ENV_CONFIG)) from None
    return parser


# --- checking values ----------------------------------------------------------------------------

def normalize_id_instance(value: object, source: str = "idInstance") -> str:
    """idInstance as digits: spaces stripped; 1101000001, 1101000001.0 (from Excel) and "1101 000 001" work."""
    if isinstance(value, bool):
        raise ConfigError(_("{source}: idInstance must be a number like 1101000001").format(source=source))
    if isinstance(value, float):
        if value.is_integer() and value > 0:
            return str(int(value))
        raise ConfigError(_("{source}: idInstance must be a whole number like 1101000001").format(source=source))
    if isinstance(value, int):
        if value > 0:
            return str(value)
        raise ConfigError(_("{source}: idInstance must be a positive number like 1101000001").format(source=source))
    text = "".join(str(value).split())
    whole = _FLOAT_WHOLE.match(text)
    if whole:
        text = whole.group(1)
    if not _DIGITS.match(text) or not text.strip("0"):
        # Echo short values only: a long one may be a token pasted into the wrong place.
        shown = _(" (got {text!r})").format(text=text) if 0 < len(text) <= 20 else ""
        raise ConfigError(_("{source}: idInstance must be digits like 1101000001{shown}").format(source=source,
                                                                                             shown=shown))
    return text


def _clean_token(value: object, source: str) -> str:
    token = str(value).strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in token):
        raise ConfigError(_("{source}: apiTokenInstance contains spaces or line breaks; copy it again from the "
                            "console").format(source=source))
    return token


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def _sheet_value(sheet_settings: Mapping | None, field: str) -> object:
    if not sheet_settings:
        return None
    for key in _SHEET_KEYS[field]:
        value = sheet_settings.get(key)
        if _present(value):
            return value
    return None


# --- credentials ----------------------------------------------------------------------------

def resolve_credentials(
    *,
    api_url: str | None = None,
    id_instance: object = None,
    api_token: str | None = None,
    sheet_settings: Mapping | None = None,
):
    """apiUrl, idInstance and apiTokenInstance from the first place that has each (see the module docstring).

    Returns ``client.Credentials``. Raises ``ConfigError`` with one line saying how to set what is missing.
    ``sheet_settings`` is the workbook's settings area; any token in it is ignored on purpose.
    """
    from greenapi_excel.calls import Credentials, check_api_url   # not client: requests is not in xlwings Lite

    env = os.environ
    file_path = config_path()
    file_values: dict[str, str] | None = None

    def pick(candidates, file_key: str) -> tuple[object, str]:
        """The first value the candidates have, else the config file's (read once, only if needed)."""
        nonlocal file_values
        value, source = _first(candidates)
        if value is None:
            if file_values is None:
                file_values = load_config(file_path)
            value, source = file_values.get(file_key), f"{file_key} in {file_path}"
        return value, source

    url, url_source = pick((
        (api_url, "--api-url"),
        (env.get(ENV_API_URL), ENV_API_URL),
        (_sheet_value(sheet_settings, "api_url"), "the workbook's apiUrl setting"),
    ), "api_url")
    if not _present(url):
        url, url_source = DEFAULT_API_URL, "the default"
    try:
        url = check_api_url(str(url).strip())
    except ConfigError as error:
        raise ConfigError(_("apiUrl from {source}: {error}").format(source=url_source, error=error)) from None

    instance = resolve_id_instance(id_instance, sheet_settings, file_values=lambda: pick((), "id_instance")[0])

    token, token_source = pick(((api_token, "--api-token"), (env.get(ENV_API_TOKEN), ENV_API_TOKEN)), "api_token")
    keychain_problem = ""
    if not _present(token):
        token, keychain_problem = _keychain_token(instance)
        token_source = "the OS keychain"
    if not _present(token):
        raise ConfigError(
            _("apiTokenInstance for idInstance {instance} is not set: set {variable}, pass --api-token, or store it "
              "in the OS keychain with the workbook's Settings button{problem}").format(
                instance=instance, variable=ENV_API_TOKEN, problem=keychain_problem)
        )
    token = _clean_token(token, token_source)
    return Credentials(api_url=url, id_instance=instance, api_token=token)


def resolve_id_instance(flag: object = None, sheet_settings: Mapping | None = None, *, file_values=None) -> str:
    """The idInstance from the first place that has it: ``flag`` (``--id-instance``), ``GREENAPI_ID_INSTANCE``,
    the book's Settings sheet, ``id_instance`` in the config file. The one order: the token typed into the
    Settings sheet is stored under this idInstance, and a run looks it up under the same one."""
    value, source = _first((
        (flag, "--id-instance"),
        (os.environ.get(ENV_ID_INSTANCE), ENV_ID_INSTANCE),
        (_sheet_value(sheet_settings, "id_instance"), "the workbook's idInstance setting"),
    ))
    path = config_path()
    if value is None:
        value = file_values() if file_values is not None else load_config(path).get("id_instance")
        source = f"id_instance in {path}"
    if not _present(value):
        raise ConfigError(
            _("idInstance is not set: pass --id-instance, set {variable}, or put id_instance in {path} (or in the "
              "workbook's Settings sheet)").format(variable=ENV_ID_INSTANCE, path=path)
        )
    return normalize_id_instance(value, source)


def resolve_region(flag: object = None, sheet_settings: Mapping | None = None) -> str | None:
    """The default region for numbers without a country code, from the first place that has one: ``flag``
    (``--region``), ``GREENAPI_REGION``, the book's Settings sheet (``sheet_settings``: its lower-case labels
    -> values), ``region`` in the user config file. Upper-cased; None when none is set. ConfigError naming
    the place when its value is no region phonenumbers knows."""
    from greenapi_excel.chat_ids import check_region

    value, source = _first((
        (flag, "--region"),
        (os.environ.get(ENV_REGION), ENV_REGION),
        (_sheet_value(sheet_settings, "region"), "the workbook's Region setting"),
    ))
    if value is None:
        path = config_path()
        value, source = load_config(path).get("region"), f"region in {path}"
    if not _present(value):
        return None
    try:
        return check_region(value.strip() if isinstance(value, str) else value)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _first(candidates) -> tuple[object, str | None]:
    for value, source in candidates:
        if _present(value):
            return value, source
    return None, None


# --- the OS keychain ------------------------------------------------------------------------

def _keychain_token(id_instance: str) -> tuple[str | None, str]:
    """(token or None, a note for the error line when the keychain could not be asked)."""
    try:
        import keyring
        from keyring.errors import NoKeyringError

        return keyring.get_password(KEYRING_SERVICE, id_instance), ""
    except NoKeyringError:
        return None, " (no OS keychain is available here, so use the environment variable)"
    except Exception as error:  # a broken backend (locked keychain, no D-Bus) is the same as no token
        return None, f" (the OS keychain could not be read: {type(error).__name__})"


def store_token(id_instance: object, token: str) -> None:
    """Put the token into the OS keychain under service "GreenApiExcel", user = idInstance."""
    instance = normalize_id_instance(id_instance)
    cleaned = _clean_token(token or "", "the token")
    if not cleaned:
        raise ConfigError(_("the apiTokenInstance is empty: paste it from the GREEN-API console"))
    try:
        import keyring
        from keyring.errors import NoKeyringError

        keyring.set_password(KEYRING_SERVICE, instance, cleaned)
    except NoKeyringError:
        raise ConfigError(
            _("no OS keychain is available here: set {variable} instead (or api_token in {path})").format(
                variable=ENV_API_TOKEN, path=config_path())
        ) from None
    except Exception as error:  # the backend's text is not shown: it could quote what it was given
        raise ConfigError(_("the OS keychain refused the token ({error}); set {variable} instead").format(
            error=type(error).__name__, variable=ENV_API_TOKEN)) from None


# --- writing the config file -------------------------------------------------------------------

def save_config(api_url: str | None = None, id_instance: object = None, region: str | None = None,
                *, path: str | os.PathLike | None = None) -> Path:
    """Update ``[greenapi]`` in the config file and return its path; never writes a token.

    None leaves a key as it is; "" removes it. Other keys (one the user added by hand) are kept.
    """
    target = Path(path) if path else config_path()
    updates: dict[str, str] = {}
    if api_url is not None:
        if api_url.strip():
            from greenapi_excel.calls import check_api_url

            updates["api_url"] = check_api_url(api_url.strip())
        else:
            updates["api_url"] = ""
    if id_instance is not None:
        updates["id_instance"] = normalize_id_instance(id_instance) if _present(id_instance) else ""
    if region is not None:
        if region.strip():
            from greenapi_excel.chat_ids import check_region

            updates["region"] = check_region(region) or ""
        else:
            updates["region"] = ""

    parser = _read_ini(target)
    if not parser.has_section(SECTION):
        parser.add_section(SECTION)
    for key, value in updates.items():
        if value:
            parser.set(SECTION, key, value)
        else:
            parser.remove_option(SECTION, key)
    try:
        paths.make_private_folder(target.parent)
        fd, temp = tempfile.mkstemp(prefix=".config-", suffix=".ini", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("# GreenApi for Excel settings. Keep the token in the OS keychain or in\n"
                        f"# {ENV_API_TOKEN}, not here: this file is plain text.\n")
                parser.write(f)
            if os.name == "posix":
                os.chmod(temp, 0o600)
            os.replace(temp, target)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
    except OSError as error:
        raise ConfigError(_("the config file {path} cannot be written ({error}); point {variable} at another "
                            "file").format(path=target, error=error.strerror or error, variable=ENV_CONFIG)) from None
    return target
