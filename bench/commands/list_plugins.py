"""`bench list`: the plugins bench can use, where each comes from, one line each."""

import click

from bench.commands.flags import verbose_option


@click.command("list")
@click.argument("what", required=False, type=click.Choice(["models", "datasets"]))
@verbose_option
def list_command(what):
    """List the models and datasets bench can use, and where each comes from."""
    from rich.table import Table

    from bench import plugins
    from bench.console import make_console

    kinds = {"models": ["model"], "datasets": ["dataset"], None: ["model", "dataset"]}[what]
    console = make_console()
    for kind in kinds:
        table = Table(title=f"{plugins.folder_word(kind)}", title_justify="left")
        for column in ("name", "from", "description"):
            table.add_column(column, overflow="fold")
        for spec in plugins.discover(kind).values():
            description = spec.description()
            style = "red" if description.startswith("BROKEN") else None
            table.add_row(spec.name, f"{spec.origin}: {spec.where()}", description, style=style)
        console.print(table)
        if kind == "dataset":
            console.print(_prefix_table())


def _prefix_table():
    """The datasets named by a prefix (bench.sources), one example each."""
    from rich.table import Table

    from bench import sources

    table = Table(title="datasets by prefix (--dataset PREFIX:WHERE)", title_justify="left")
    for column in ("prefix", "reads", "example"):
        table.add_column(column, overflow="fold")
    for prefix, (reads, example) in sources.PREFIXES.items():
        table.add_row(f"{prefix}:", reads, example)
    return table
