"""The configuration that comes from environment variables other than the ``[server]`` scalars:
notify URLs and the Admin API's key and URL, which carry or guard credentials and so are kept out
of committed config files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from claudescope.config_model import ADMIN_KEY_ENV, ENV_PREFIX, ENV_VAR_SOURCE, AdminKey, Config, ConfigError
from claudescope.web_hosts import LOOPBACK_HOSTS


def apply_env_notify(config: Config, env: Mapping[str, str]) -> Config:
    """``CLAUDESCOPE_NOTIFY_URLS``: whitespace-separated apprise URLs, replacing ``[notify] urls``.

    Notify URLs carry credentials (webhook tokens, SMTP passwords), so deployments keep them
    in an env file (compose/claudescope.env) rather than in a committed config file.
    """
    raw = env.get(ENV_PREFIX + "NOTIFY_URLS", "")
    if not raw.strip():
        return config
    return replace(config, notify=replace(config.notify, urls=tuple(raw.split())))


def apply_env_admin(config: Config, env: Mapping[str, str]) -> Config:
    """The Admin API key (only ever from ``ANTHROPIC_ADMIN_API_KEY``) and ``CLAUDESCOPE_ADMIN_API_URL``."""
    reconcile = config.reconcile
    url = env.get(ENV_PREFIX + "ADMIN_API_URL", "").strip()
    if url:
        reconcile = replace(reconcile, admin_api_url=admin_url(url, ENV_VAR_SOURCE + ENV_PREFIX + "ADMIN_API_URL"))
    key = env.get(ADMIN_KEY_ENV, "").strip()
    if key:
        reconcile = replace(reconcile, admin_key=AdminKey(key))
    return replace(config, reconcile=reconcile)


def admin_url(raw: str, source: str) -> str:
    """``raw`` as the Admin API's base URL, from ``source``: https://, or http:// to this machine.

    Raises:
        ConfigError: naming ``[reconcile] admin_api_url`` and ``source``.
    """
    if not raw.startswith(("http://", "https://")):
        raise ConfigError("reconcile.admin_api_url", source, f"must be an http:// or https:// URL, got {raw!r}")
    host = (urlsplit(raw).hostname or "").lower()
    if raw.startswith("http://") and host not in LOOPBACK_HOSTS and not host.startswith("127."):
        # The admin key travels in a header of every request: never in clear text over a network.
        raise ConfigError("reconcile.admin_api_url", source,
                          f"must be https:// for {host!r}: over http:// the admin key would cross the network in clear "
                          "text (http:// is for a fake API on this machine)")
    return raw.rstrip("/")
