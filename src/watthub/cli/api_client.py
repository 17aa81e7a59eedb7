"""Calling the operator API from feature CLI commands (the running server owns the stations)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click


def url_and_token_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--api-url`` and ``--token`` (or WATTHUB_API_URL / WATTHUB_API_TOKEN)."""
    func = click.option("--api-url", envvar="WATTHUB_API_URL", help="Default: from settings")(func)
    return click.option("--token", "api_token", envvar="WATTHUB_API_TOKEN", required=True)(func)


def api_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.pass_context(url_and_token_options(func))


def call_api(
    ctx: click.Context,
    api_url: str | None,
    api_token: str,
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    import httpx

    settings = ctx.find_root().obj["settings"]
    base = api_url or settings.api_url()
    response = httpx.request(
        method,
        f"{base}{path}",
        json=body,
        params=params,
        headers={"Authorization": f"Bearer {api_token}"},
        timeout=settings.call_timeout * 4 + 10,
    )
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise click.ClickException(f"HTTP {response.status_code}: {detail}")
    return response.json() if response.content and response.status_code != 204 else None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))
