"""`cutout keys ...`: API keys; the server keeps only their hashes."""

from __future__ import annotations

from pathlib import Path

import click

from api import auth


@click.group()
def keys() -> None:
    """API keys: the server keeps only their SHA-256 hashes (CUTOUT_API_KEYS_FILE)."""


@keys.command()
@click.option("--name", default="client", show_default=True, help="Who the key is for (kept beside the hash).")
@click.option("--file", "keys_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keys file to append the hash to.")
def new(name: str, keys_file: Path | None) -> None:
    """Make a new key: the key is printed once; only its hash is stored."""
    key = auth.new_key()
    if keys_file:
        with open(keys_file, "a") as handle:
            handle.write(f"{name} {auth.hash_key(key)}\n")
        click.echo(f"added {name} to {keys_file}", err=True)
    click.echo(key)


@keys.command("hash")
@click.argument("key")
@click.option("--name", default="client", show_default=True)
def hash_(key: str, name: str) -> None:
    """The keys-file line for an existing KEY."""
    click.echo(f"{name} {auth.hash_key(key)}")
