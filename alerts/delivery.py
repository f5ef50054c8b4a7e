"""Channels: apprise URLs from ``notify.urls``, routing by tag, sending, and ``alerts test``.

An entry is an apprise URL, optionally prefixed with tags: ``"critical=pagerduty://..."`` or
``"budget,oncall=mailto://..."``. An untagged channel receives every alert; a tagged one only
alerts whose rule name, severity or ``tags`` match one of its tags.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import apprise
from rich.console import Console

from claudescope.config import Config, ConfigError

_TAG_PREFIX = re.compile(r"^([A-Za-z0-9_\-]+(?:,[A-Za-z0-9_\-]+)*)=(?=[A-Za-z][A-Za-z0-9+.\-]*://)")
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Channel:
    """One configured notification target."""

    id: str  # stable across restarts: derived from the URL
    url: str
    tags: tuple[str, ...]
    name: str  # the URL with secrets masked, safe to log and store

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
        name = plugin.url(privacy=True).split("?")[0]
        channel_id = hashlib.sha256(url.encode()).hexdigest()[:16]
        channels.append(Channel(channel_id, url, tags, name))
    return tuple(channels)


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
        try:
            # Plain text: apprise would otherwise read the body as HTML for email and fold its lines.
            result = self._apprise.notify(body=body, title=title, notify_type=notify_type, tag=channel.id,
                                          body_format=apprise.NotifyFormat.TEXT, match_always=False,
                                          timeout=self._timeout_s)
        except Exception as exc:  # a plugin bug must not kill the delivery loop
            return f"{type(exc).__name__}: {exc}"
        if bool(result):
            return None
        return f"{result.status.name.lower()} ({result.failed_count} failed, {result.timeout_count} timed out)"


def send_test(config: Config, *, out: Console) -> int:
    """``claudescope alerts test``: one test message to every channel; non-zero if any failed."""
    try:
        channels = parse_channels(config)
    except ConfigError as exc:
        out.print(f"[red]{exc}[/red]")
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
