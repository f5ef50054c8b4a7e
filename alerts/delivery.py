"""Channels: apprise URLs from ``notify.urls``, routing by tag, sending, and ``alerts test``.

An entry is an apprise URL, optionally prefixed with tags: ``"critical=pagerduty://..."`` or
``"budget,oncall=mailto://..."``. An untagged channel receives every alert; a tagged one only
alerts whose rule name, severity or ``tags`` match one of its tags.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise
from rich.console import Console

from claudescope.config import Config, ConfigError

_TAG_PREFIX = re.compile(r"^([A-Za-z0-9_\-]+(?:,[A-Za-z0-9_\-]+)*)=(?=[A-Za-z][A-Za-z0-9+.\-]*://)")
DEFAULT_TIMEOUT_S = 10.0
MASK = "****"
# Path segments a channel's name shows: common fixed words, e-mail addresses and chat channel
# names ("#alerts"). Any other segment may be a token (json://host/hook/<token>) and is masked.
_PUBLIC_WORDS = frozenset({"api", "alert", "alerts", "events", "hook", "hooks", "incoming", "message", "messages",
                           "notify", "post", "send", "services", "v1", "v2", "v3", "webhook", "webhooks"})
_PUBLIC_SEGMENT = re.compile(r"^(#[\w.-]{1,80}|[\w.+-]{1,64}@[\w-]+(\.[\w-]+)+)$")
_APPRISE_PARTIAL = re.compile(r"[^/:@?&=]\.\.\.[^/:@?&=]")  # apprise's privacy form "T...A"
_DIALECTS = {"NotifyDiscord": "discord", "NotifyEmail": "email", "NotifyJSON": "plain", "NotifyForm": "plain",
             "NotifyXML": "plain"}


@dataclass(frozen=True, slots=True)
class Channel:
    """One configured notification target."""

    id: str  # stable across restarts: derived from the URL
    url: str
    tags: tuple[str, ...]
    name: str  # the URL with secrets masked, safe to log and store
    dialect: str = "plain"  # how messages are written for it: claudescope.alerts.messages.DIALECTS
    secrets: tuple[str, ...] = field(default=(), repr=False)  # parts of ``url`` the name hides

    def scrub(self, text: str) -> str:
        """``text`` (an error from a plugin, say) with every secret part of the URL masked."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def wants(self, rule: str, severity: str, tags: Iterable[str]) -> bool:
        """Whether an alert of ``rule`` / ``severity`` / ``tags`` is routed here."""
        return not self.tags or bool(set(self.tags) & {rule, severity, *tags})


def parse_channels(config: Config) -> tuple[Channel, ...]:
    """Validate ``notify.urls``.

    Raises:
        ConfigError: naming ``notify.urls[i]`` when apprise cannot parse the URL.
    """
    source = str(config.config_file or "configuration")
    channels = []
    for index, entry in enumerate(config.notify.urls):
        match = _TAG_PREFIX.match(entry)
        tags = tuple(match.group(1).split(",")) if match else ()
        url = entry[match.end():] if match else entry
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            raise ConfigError(f"notify.urls[{index}]", source, "apprise cannot use this URL (unknown scheme or missing parts)")
        name = masked_name(plugin.url(privacy=True))
        channel_id = hashlib.sha256(url.encode()).hexdigest()[:16]
        dialect = _DIALECTS.get(type(plugin).__name__, "chat")
        channels.append(Channel(channel_id, url, tags, name, dialect, _secrets(url, name)))
    return tuple(channels)


def masked_name(private_url: str) -> str:
    """A channel's name from apprise's privacy URL: scheme, host and public path segments kept;
    the query, any other path segment and apprise's partial reveals ("T...A") replaced by ``****``.

    apprise masks the secrets each plugin declares (passwords, Slack and Discord tokens), but a
    generic webhook's path is not declared secret, and ``json://host/hook/<token>`` is common.
    """
    base = private_url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = base.partition("://")
    authority, slash, path = rest.partition("/")
    segments = [s if _public(unquote(s)) else MASK for s in path.split("/")]
    return _APPRISE_PARTIAL.sub(MASK, f"{scheme}{sep}{authority}{slash}{'/'.join(segments)}")


def _public(segment: str) -> bool:
    return not segment or segment.lower() in _PUBLIC_WORDS or bool(_PUBLIC_SEGMENT.match(segment))


def _secrets(url: str, name: str) -> tuple[str, ...]:
    """Every part of ``url`` that ``name`` does not show, longest first (so none is half-replaced)."""
    parts = urlsplit(url)
    pieces = {parts.username or "", parts.password or "", parts.netloc}
    pieces.update(parts.path.split("/"))
    pieces.update(value for _, value in parse_qsl(parts.query))
    pieces.update([unquote(p) for p in pieces])
    shown = f"{name} {unquote(name)}"
    hidden = {p for p in pieces if len(p) >= 4 and p not in shown}
    return tuple(sorted(hidden, key=len, reverse=True))


class Sender:
    """Sends one message to one channel through apprise; thread-confined to its caller."""

    def __init__(self, channels: Sequence[Channel], *, app_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        asset = apprise.AppriseAsset(app_id="claudescope", app_desc="claudescope alerts", app_url=app_url or "")
        self._apprise = apprise.Apprise(asset=asset)
        self._timeout_s = timeout_s
        for channel in channels:
            # Each channel carries its id as an apprise tag, so one notify reaches exactly it.
            self._apprise.add(channel.url, tag=channel.id)
        for plugin in self._apprise:
            # apprise sleeps up to 5.5 s between two messages of one plugin; the outbox paces
            # each channel itself (without blocking the other channels) and groups meanwhile.
            plugin.request_rate_per_sec = 0

    def send(self, channel: Channel, title: str, body: str, notify_type: str) -> str | None:
        """Deliver; None on success, else a short reason (never the unmasked URL)."""
        # Plain text: apprise would otherwise read the body as HTML for email and fold its lines,
        # and it escapes plain text for each chat service's markup. Discord bodies are Markdown we
        # escaped ourselves (messages.py), because apprise sends plain text to Discord unescaped.
        body_format = apprise.NotifyFormat.MARKDOWN if channel.dialect == "discord" else apprise.NotifyFormat.TEXT
        try:
            # apprise says why a send failed only in its log: keep that line for the reason.
            with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
                result = self._apprise.notify(body=body, title=title, notify_type=notify_type, tag=channel.id,
                                              body_format=body_format, match_always=False, timeout=self._timeout_s)
        except Exception as exc:  # a plugin bug must not kill the delivery loop
            return channel.scrub(f"{type(exc).__name__}: {exc}")
        if bool(result):
            return None
        said = [line.strip() for line in logs.getvalue().splitlines() if line.strip()]
        reason = f": {channel.scrub(said[-1])[:300]}" if said else ""
        return f"{result.status.name.lower()} ({result.failed_count} failed, {result.timeout_count} timed out){reason}"


def send_test(config: Config, *, out: Console) -> int:
    """``claudescope alerts test``: one test message to every channel; non-zero if any failed."""
    try:
        channels = parse_channels(config)
    except ConfigError as exc:
        out.print(str(exc), style="red", markup=False)  # the message quotes [sections]
        return 2
    if not channels:
        out.print("[yellow]No channels configured: add apprise URLs to [notify] urls in claudescope.toml[/yellow]")
        return 1
    sender = Sender(channels, app_url=config.notify.dashboard_url)
    failed = 0
    for channel in channels:
        error = sender.send(channel, "[claudescope] test notification",
                            "This is a test from `claudescope alerts test`: this channel receives claudescope alerts.", "info")
        tags = f" (tags: {', '.join(channel.tags)})" if channel.tags else ""
        if error is None:
            out.print(f"[green]ok[/green]     {channel.name}{tags}")
        else:
            failed += 1
            out.print(f"[red]failed[/red] {channel.name}{tags}: {error}")
    return 1 if failed else 0
