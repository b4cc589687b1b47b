"""The partner's allow-list of embedding origins, per organisation.

Design, and what it guarantees:

- **One list, three uses.** The origins an organisation registers are, for its embedded
  pages (``embed.views``): the ``Content-Security-Policy: frame-ancestors`` of every
  page (no other site can frame them), the only senders whose ``postMessage`` the page
  accepts a token from, and the only ``targetOrigin`` the page posts its events to
  (never ``"*"``). An organisation with no origin gets ``frame-ancestors 'none'``:
  closed by default.
- **An origin is exactly what a browser says.** ``scheme://host[:port]``, the way
  ``MessageEvent.origin`` serialises it: lower case, no path, query, fragment or
  credentials, no wildcard, the default port left out (``https://a.example:443`` is
  stored as ``https://a.example``), so a string comparison in the page is an origin
  comparison. ``https`` always; ``http`` only for ``localhost`` and ``127.0.0.1``
  (development: a page served over plain http elsewhere could be rewritten in transit,
  token and all). Hosts are DNS names (IDNs in their ``xn--`` form) or IPv4 addresses.
  Anything else is refused with a message that names the rule it broke.
- **Changed as a whole** (:func:`set_origins`: the list in, the list stored), in one
  transaction with one audit row holding the list before and after. At most
  :data:`MAX_ORIGINS`.
- Origins are configuration, not personal data: stored in clear (a response header
  needs them on every page view), exported with the organisation, deleted with it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction

from coursewright.audit.actions import record_event
from coursewright.embed.models import EmbedOrigin
from coursewright.errors import Invalid

if TYPE_CHECKING:
    from coursewright.audit.actor import Actor
    from coursewright.orgs.models import Organisation

MAX_ORIGINS = 20
MAX_ORIGIN_CHARS = 300
PLAIN_HTTP_HOSTS = frozenset({"localhost", "127.0.0.1"})
DEFAULT_PORTS = {"https": 443, "http": 80}
_ORIGIN = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#:@\s]+)"
                     r"(?::(?P<port>[0-9]{1,5}))?/?")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _bad(value: str, rule: str) -> Invalid:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return Invalid(f"{shown!r} is not an allowed origin: {rule}", code="bad_origin")


def _host(value: str, host: str) -> str:
    host = host.lower()
    if re.fullmatch(r"[0-9.]+", host):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise _bad(value, "the host is not a valid IPv4 address") from None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _bad(value, "the host must be a DNS name (letters, digits and '-', "
                          "international names in their xn-- form) or an IPv4 address; "
                          "no wildcards")
    return host


def normalise_origin(value: object) -> str:
    """``value`` as a browser serialises the origin, if it is one we allow; a clear 422
    (``bad_origin``) otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("an origin is a string like https://app.example.com",
                      code="bad_origin")
    text = value.strip()
    if len(text) > MAX_ORIGIN_CHARS:
        raise _bad(text, f"at most {MAX_ORIGIN_CHARS} characters")
    if "*" in text:
        raise _bad(text, "wildcards are not allowed; list each origin")
    match = _ORIGIN.fullmatch(text)
    if match is None:
        raise _bad(text, "write scheme://host or scheme://host:port, with no path, "
                         "query, fragment or user name")
    scheme = match["scheme"].lower()
    if scheme not in DEFAULT_PORTS:
        raise _bad(text, "the scheme must be https (or http for localhost)")
    host = _host(text, match["host"])
    if scheme == "http" and host not in PLAIN_HTTP_HOSTS:
        raise _bad(text, "use https; plain http is only for localhost and 127.0.0.1")
    port = match["port"]
    if port is not None:
        number = int(port)
        if not 1 <= number <= 65535:
            raise _bad(text, "the port must be between 1 and 65535")
        if number != DEFAULT_PORTS[scheme]:
            return f"{scheme}://{host}:{number}"
    return f"{scheme}://{host}"


def registered_origins(org: Organisation | int) -> list[str]:
    """The organisation's origins, in the order they were registered."""
    org_id = org if isinstance(org, int) else org.pk
    return list(EmbedOrigin.objects.filter(org_id=org_id).order_by("pk")
                .values_list("origin", flat=True))


def set_origins(org: Organisation, origins: Sequence[object], *, actor: Actor) -> list[str]:
    """Replace the organisation's allow-list with ``origins`` (normalised, each once);
    one audit row with the list before and after, when it changed."""
    if isinstance(origins, str | bytes):
        raise Invalid("origins must be a list of origins", code="bad_origin")
    wanted = list(dict.fromkeys(normalise_origin(o) for o in origins))
    if len(wanted) > MAX_ORIGINS:
        raise Invalid(f"register at most {MAX_ORIGINS} origins", code="too_many_origins")
    with transaction.atomic():
        before = list(EmbedOrigin.objects.select_for_update().filter(org=org).order_by("pk")
                      .values_list("origin", flat=True))
        if set(before) == set(wanted):
            return before
        EmbedOrigin.objects.filter(org=org).exclude(origin__in=wanted).delete()
        # kept ones keep their rows; the order is the list's for new ones
        EmbedOrigin.objects.bulk_create([EmbedOrigin(org=org, origin=o) for o in wanted
                                         if o not in before])
        record_event(org=org, actor=actor, action="embed.origins_changed",
                     object_type="organisation", object_id=org.pk,
                     before={"origins": before}, after={"origins": wanted})
    return registered_origins(org)
