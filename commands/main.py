"""`cutout`: the command line of the cutout service: model store, folder batches, evaluation, keys, training."""

from __future__ import annotations

import sys

import click

from commands.batch import batch
from commands.eval import eval_
from commands.keys import keys
from commands.models import models
from commands.train import train
from runners import store


class _Group(click.Group):
    """A command group that reports store errors as one clear line and exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except store.StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
def main() -> None:
    """Self-hosted product-photo cutout service: model store and tools."""


for command in (models, batch, eval_, keys, train):
    main.add_command(command)
