"""Credentials: which source wins, what is refused, where the token may live, and the config file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from greenapi_excel import settings
from greenapi_excel.errors import ConfigError
from greenapi_excel.settings import config_path, resolve_credentials, save_config, store_token

TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
OTHER_TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01"


class MemoryKeyring(KeyringBackend):
    """A keychain that lives in this process: the tests never touch the user's real one."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("not stored")


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    for name in ("GREENAPI_API_URL", "GREENAPI_ID_INSTANCE", "GREENAPI_API_TOKEN_INSTANCE", "GREENAPI_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GREENAPI_CONFIG", str(tmp_path / "cfg" / "config.ini"))
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def keychain():
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    return memory


@pytest.fixture
def no_keychain():
    keyring.set_keyring(keyring.backends.fail.Keyring())


def _write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- where the config file lives ------------------------------------------------------------

def test_config_path_per_os(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    home = Path.home()
    from greenapi_excel.paths import user_folder

    assert user_folder("config", "win32", {"APPDATA": r"C:\Users\a\AppData\Roaming"}) == \
        Path(r"C:\Users\a\AppData\Roaming") / "GreenApiExcel"
    assert user_folder("config", "darwin", {}) == home / "Library" / "Application Support" / "GreenApiExcel"
    assert user_folder("config", "linux", {}) == home / ".config" / "greenapi-excel"
    assert user_folder("config", "linux", {"XDG_CONFIG_HOME": "/c"}) == Path("/c/greenapi-excel")
    assert config_path() == tmp_path / "cfg" / "config.ini"  # GREENAPI_CONFIG wins


# --- which source wins -------------------------------------------------------------------------

def test_flags_beat_environment_beat_sheet_beat_file(monkeypatch, no_keychain):
    _write_config("[greenapi]\napi_url = https://file.example.com\nid_instance = 4444\napi_token = filetoken\n")
    sheet = {"api_url": "https://sheet.example.com", "id_instance": 3333.0}

    c = resolve_credentials(sheet_settings=sheet)
    assert (c.api_url, c.id_instance, c.api_token) == ("https://sheet.example.com", "3333", "filetoken")

    monkeypatch.setenv("GREENAPI_API_URL", "https://env.example.com/")
    monkeypatch.setenv("GREENAPI_ID_INSTANCE", "2222")
    monkeypatch.setenv("GREENAPI_API_TOKEN_INSTANCE", TOKEN)
    c = resolve_credentials(sheet_settings=sheet)
    assert (c.api_url, c.id_instance, c.api_token) == ("https://env.example.com", "2222", TOKEN)

    c = resolve_credentials(api_url="https://flag.example.com", id_instance="1111", api_token=OTHER_TOKEN,
                            sheet_settings=sheet)
    assert (c.api_url, c.id_instance, c.api_token) == ("https://flag.example.com", "1111", OTHER_TOKEN)


def test_file_alone_and_the_default_url(no_keychain):
    assert resolve_credentials(id_instance="1101000001", api_token=TOKEN).api_url == "https://api.green-api.com"
    _write_config("[greenapi]\nid_instance = 1101000001\napi_token = " + TOKEN + "\n")
    c = resolve_credentials()
    assert (c.api_url, c.id_instance, c.api_token) == ("https://api.green-api.com", "1101000001", TOKEN)


def test_sheet_accepts_camel_case_labels(no_keychain):
    c = resolve_credentials(api_token=TOKEN, sheet_settings={"apiUrl": "https://7103.api.greenapi.com",
                                                              "idInstance": "7103000001", "region": "RU"})
    assert (c.api_url, c.id_instance) == ("https://7103.api.greenapi.com", "7103000001")


def test_token_in_the_sheet_is_ignored(keychain):
    sheet = {"id_instance": "1101000001", "api_token": TOKEN, "apiTokenInstance": TOKEN}
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(sheet_settings=sheet)
    assert TOKEN not in str(caught.value)
    store_token("1101000001", OTHER_TOKEN)
    assert resolve_credentials(sheet_settings=sheet).api_token == OTHER_TOKEN  # the keychain's, not the sheet's


def test_keychain_holds_the_token_per_instance(keychain):
    store_token(1101000001.0, f"  {TOKEN}\n")  # as Excel hands them over: a float, a padded paste
    assert keychain.secrets == {("GreenApiExcel", "1101000001"): TOKEN}
    c = resolve_credentials(id_instance="1101000001")
    assert c.api_token == TOKEN
    with pytest.raises(ConfigError):
        resolve_credentials(id_instance="1101000002")  # another instance has no token there


def test_environment_token_beats_the_keychain(keychain, monkeypatch):
    store_token("1101000001", OTHER_TOKEN)
    monkeypatch.setenv("GREENAPI_API_TOKEN_INSTANCE", TOKEN)
    assert resolve_credentials(id_instance="1101000001").api_token == TOKEN


# --- what is refused ---------------------------------------------------------------------------

def test_missing_id_instance_says_the_three_ways(no_keychain):
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(api_token=TOKEN)
    text = str(caught.value)
    assert "\n" not in text and TOKEN not in text
    assert "--id-instance" in text and "GREENAPI_ID_INSTANCE" in text and str(config_path()) in text


def test_missing_token_says_the_three_ways(no_keychain):
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(id_instance="1101000001")
    text = str(caught.value)
    assert "\n" not in text
    assert "--api-token" in text and "GREENAPI_API_TOKEN_INSTANCE" in text and "keychain" in text


@pytest.mark.parametrize("given, expected", [
    ("1101000001", "1101000001"), (" 1101 000 001 ", "1101000001"), (1101000001, "1101000001"),
    (1101000001.0, "1101000001"), ("1101000001.0", "1101000001"),
])
def test_id_instance_forms_accepted(given, expected):
    assert resolve_credentials(id_instance=given, api_token=TOKEN).id_instance == expected


@pytest.mark.parametrize("given", ["abc", "11010-00001", 1101000001.5, -5, True, "0", "1e9"])
def test_id_instance_not_digits_refused(given):
    with pytest.raises(ConfigError, match="idInstance"):
        resolve_credentials(id_instance=given, api_token=TOKEN)


def test_token_pasted_as_id_instance_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(id_instance=TOKEN, api_token=OTHER_TOKEN)
    assert TOKEN not in str(caught.value) and OTHER_TOKEN not in str(caught.value)


def test_plain_http_to_a_remote_host_refused():
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(api_url="http://api.green-api.com", id_instance="1", api_token=TOKEN)
    assert TOKEN not in str(caught.value)
    assert resolve_credentials(api_url="http://127.0.0.1:8765/", id_instance="1",
                               api_token=TOKEN).api_url == "http://127.0.0.1:8765"


def test_token_with_a_line_break_refused_without_echo():
    broken = TOKEN[:20] + "\n" + TOKEN[20:]
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(id_instance="1", api_token=broken)
    assert TOKEN[:20] not in str(caught.value) and TOKEN[20:] not in str(caught.value)


def test_credentials_repr_hides_the_token():
    c = resolve_credentials(id_instance="1101000001", api_token=TOKEN)
    assert TOKEN not in repr(c) and TOKEN not in str(c)


def test_no_keychain_store_is_a_clear_error(no_keychain):
    with pytest.raises(ConfigError) as caught:
        store_token("1101000001", TOKEN)
    assert "GREENAPI_API_TOKEN_INSTANCE" in str(caught.value) and TOKEN not in str(caught.value)
    with pytest.raises(ConfigError):
        store_token("1101000001", "   ")


def test_broken_config_file_names_it_without_quoting_it(no_keychain):
    path = _write_config(f"api_token = {TOKEN}\n[greenapi\n")  # no section header, a broken one
    with pytest.raises(ConfigError) as caught:
        resolve_credentials()
    text = str(caught.value)
    assert str(path) in text and "GREENAPI_CONFIG" in text and TOKEN not in text


# --- writing the config file ---------------------------------------------------------------------

def test_save_config_writes_no_token_and_keeps_hand_edits(keychain):
    path = _write_config("[greenapi]\nid_instance = 1\ncolumn = B\n")
    assert save_config(api_url="https://7103.api.greenapi.com/", id_instance=" 7103 000001 ", region="ru") == path
    text = path.read_text(encoding="utf-8")
    assert TOKEN not in text and "api_token" not in text
    assert settings.load_config() == {"id_instance": "7103000001", "column": "B",
                                      "api_url": "https://7103.api.greenapi.com", "region": "RU"}
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0
    store_token("7103000001", TOKEN)
    c = resolve_credentials()
    assert (c.api_url, c.id_instance, c.api_token) == ("https://7103.api.greenapi.com", "7103000001", TOKEN)

    save_config(region="")  # "" removes a key; None leaves it
    assert "region" not in settings.load_config() and settings.load_config()["id_instance"] == "7103000001"


def test_save_config_makes_the_folder_and_refuses_bad_values(tmp_path):
    target = tmp_path / "deep" / "er" / "config.ini"
    save_config(id_instance=1101000001.0, path=target)
    assert settings.load_config(target) == {"id_instance": "1101000001"}
    with pytest.raises(ConfigError):
        save_config(api_url="ftp://x", path=target)
    with pytest.raises(ConfigError):
        save_config(region="ZZZ", path=target)
    assert settings.load_config(target) == {"id_instance": "1101000001"}  # a refusal writes nothing


def test_cli_without_a_token_says_how_in_one_line(tmp_path, no_keychain):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
    env["GREENAPI_CONFIG"] = str(tmp_path / "none.ini")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel", "check", "--id-instance", "1101000001"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert "GREENAPI_API_TOKEN_INSTANCE" in proc.stderr and "Traceback" not in proc.stderr


# --- the region: one order for every edge ---------------------------------------------------------

def test_region_flag_then_environment_then_sheet_then_config_file(monkeypatch):
    _write_config("[greenapi]\nregion = kz\n")
    sheet = {"region": " de "}
    assert settings.resolve_region(None, None) == "KZ"
    assert settings.resolve_region(None, sheet) == "DE"
    monkeypatch.setenv("GREENAPI_REGION", "ru")
    assert settings.resolve_region(None, sheet) == "RU"
    assert settings.resolve_region("by", sheet) == "BY"
    monkeypatch.setenv("GREENAPI_REGION", "  ")
    assert settings.resolve_region(None, {"region": None}) == "KZ"


def test_no_region_anywhere_is_none():
    assert settings.resolve_region() is None
    assert settings.resolve_region("", {"region": ""}) is None


@pytest.mark.parametrize("where,expected", [("flag", "--region"), ("env", "GREENAPI_REGION"),
                                            ("sheet", "Region setting"), ("file", "region in ")])
def test_a_wrong_region_names_where_it_came_from(monkeypatch, where, expected):
    flag = sheet = None
    if where == "flag":
        flag = "XX"
    elif where == "env":
        monkeypatch.setenv("GREENAPI_REGION", "XX")
    elif where == "sheet":
        sheet = {"region": "XX"}
    else:
        _write_config("[greenapi]\nregion = XX\n")
    with pytest.raises(ConfigError, match=expected) as caught:
        settings.resolve_region(flag, sheet)
    assert "unknown region" in str(caught.value)
