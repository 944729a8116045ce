"""The one masking function: every secret form hedgeopt knows, replaced by ``***``.

Everything hedgeopt prints or logs goes through :func:`mask` (console lines, error lines,
MLflow params and tags, ``config.yaml``, the export's metadata, trial failure reasons). It
hides:

- a URL's userinfo password: ``postgresql://alice:***@db/optuna``;
- a password or token passed as a URL query parameter (libpq, SQLAlchemy and redis-py accept
  ``?password=``), or as a ``key=value`` pair of a libpq conninfo string or an environment
  assignment: ``?password=***``, ``&passwd=***``, ``token=***``, ``PGPASSWORD=***``;
- every secret registered with :func:`register_secret` (the passwords of the configured storage
  and tracking URIs), wherever it appears: libraries print them outside URLs too.

No dependency beyond the standard library, so that any module may use it.
"""

from __future__ import annotations

import re
from typing import overload
from urllib.parse import unquote

# scheme://user:PASSWORD@host : the password runs to the netloc's last '@' (the netloc ends at
# the first '/', '?' or '#', which a password cannot hold unencoded)
_USERINFO = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^/?#\s]+)(?P<at>@)")
# password=..., passwd=..., token=..., secret=..., and names ending so (PGPASSWORD, api_token)
_KEY_VALUE = re.compile(
    r"(?P<head>(?<![\w])(?i:[a-z_]*(?:password|passwd|token|secret))\s*=\s*)(?P<pw>[^\s&;#'\"]+)"
)
_SECRETS: set[str] = set()
_MASK = "***"


@overload
def mask(text: None) -> None: ...
@overload
def mask(text: object) -> str: ...
def mask(text: object) -> str | None:
    """``text`` (made a string) with every secret form replaced by ``***``; None stays None."""
    if text is None:
        return None
    out = _USERINFO.sub(lambda m: f"{m['head']}{_MASK}{m['at']}", str(text))
    out = _KEY_VALUE.sub(lambda m: f"{m['head']}{_MASK}", out)
    for s in sorted(_SECRETS, key=len, reverse=True):
        out = out.replace(s, _MASK)
    return out


def secrets_in(text: str) -> list[str]:
    """The secrets :func:`mask` would hide in ``text`` (userinfo and key=value forms)."""
    found = [m["pw"] for m in _USERINFO.finditer(text)]
    found += [m["pw"] for m in _KEY_VALUE.finditer(text)]
    return [s for s in found if s != _MASK]


def register_secret(url: str | None) -> None:
    """Remember the secrets of ``url`` (raw and URL-decoded) so that no message shows them."""
    if not url:
        return
    for secret in secrets_in(str(url)):
        for s in (secret, unquote(secret)):
            if len(s) >= 3:  # a two-letter password would mask every "ab" of every message
                _SECRETS.add(s)


def mask_values(doc: object) -> object:
    """``doc`` (plain containers) with every string masked: a config or export before it is logged."""
    if isinstance(doc, dict):
        return {k: mask_values(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [mask_values(v) for v in doc]
    return mask(doc) if isinstance(doc, str) else doc
