"""How a setting's value is read from text (an environment variable) or from an argument given in code.

`_config` uses them as `parse.url`, `parse.positive_seconds`, ...

Each parser returns the value or raises `ValueError` with a sentence that completes "TRUBRICS_X ..."
(or "The argument x=... ..."); `trubrics_otel._config.Setting` turns that into a warning or an error.
No parser reads the environment: `_config` does, once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "api_key",
    "directory",
    "flag",
    "hook",
    "names",
    "non_negative_seconds",
    "nonempty_string",
    "positive_int",
    "positive_seconds",
    "string",
    "url",
]

_ENDPOINTS: Final = ("publish_events", "publish_llm_events")


def string(value: object) -> str:
    """Return a string as it is; refuse anything else."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type(value).__name__}")
    return value


def nonempty_string(value: object) -> str:
    """Return a string without its surrounding blanks; refuse an empty one."""
    text = string(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def api_key(value: object) -> str | None:
    """Return an API key, or None for an empty one."""
    key = string(value).strip() or None
    # sent as an HTTP header: anything else would fail every request, so it is refused here, once
    if key is not None and not all(" " <= char <= "~" or "\xa0" <= char <= "\xff" for char in key):
        raise ValueError("must hold only printable Latin-1 characters (it is sent as an HTTP header)")
    return key


def url(value: object) -> str:
    """Return the API's base URL without a trailing slash; refuse an endpoint's URL with the base to use."""
    text = string(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "must be an http:// or https:// URL such as https://app.trubrics.com/api/ingestion "
            "or http://127.0.0.1:8765"
        )
    if parts.query or parts.fragment:
        raise ValueError("must be a base URL, without a query or fragment")
    last = parts.path.rsplit("/", 1)[-1]
    if last in _ENDPOINTS:
        base = text[: -len(last) - 1]
        raise ValueError(
            f"names an endpoint, not the API's base URL: use {base!r}; "
            "/publish_events and /publish_llm_events are appended to it"
        )
    return text


def positive_seconds(value: object) -> float:
    """Return a finite, positive number of seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds")
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"must be a number of seconds, not {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"must be a positive number of seconds, not {value!r}")
    return seconds


def non_negative_seconds(value: object) -> float:
    """Return a finite number of seconds, zero included."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and value.strip() in ("0", "0.0"):
        return 0.0
    return positive_seconds(value)


def flag(value: object) -> bool:
    """Return a boolean, from a bool or from true/false, 1/0, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    text = string(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, not {value!r}")


def names(value: object) -> tuple[str, ...]:
    """Return names from a list or tuple of strings, or from comma-separated text; blanks are left out."""
    items = [string(item) for item in value] if isinstance(value, (list, tuple)) else string(value).split(",")
    return tuple(item.strip() for item in items if item.strip())


def positive_int(value: object) -> int:
    """Return a whole number of at least 1, from an int, a whole float or digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"must be a whole number, not {value!r}")
    if number < 1:
        raise ValueError(f"must be a positive whole number, not {value!r}")
    return number


def directory(value: object) -> Path:
    """Return a directory's path, `~` expanded, from a string or a path; refuse an empty one."""
    if isinstance(value, Path):
        return value.expanduser()
    text = nonempty_string(value)
    return Path(text).expanduser()


def hook(value: object) -> Callable[..., Any]:
    """Return a callable, given as itself or as `package.module:function`, importing the module now."""
    if callable(value):
        return value
    text = nonempty_string(value)
    module_name, colon, attribute = text.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"must name a function as package.module:function, not {text!r}")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except Exception as error:  # noqa: BLE001 - any failure to import is this setting's error
        problem = f"{type(error).__name__}: {error}"
        raise ValueError(f"names {text!r}, which cannot be imported: {problem}") from None
    if not callable(found):
        raise ValueError(f"names {text!r}, which is not callable")
    return found  # type: ignore[no-any-return]
