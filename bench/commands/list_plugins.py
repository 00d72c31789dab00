"""`bench list`: the plugins bench can use, where each comes from, one line each."""

import click

from bench.commands.flags import verbose_option

DESCRIPTION_ROOM = 24  # columns the last column keeps when the others are wide


@click.command("list")
# An explicit metavar: click 8.4 and 8.5 bracket an optional choice differently.
@click.argument("what", required=False, type=click.Choice(["models", "datasets"]), metavar="[models|datasets]")
@verbose_option
def list_command(what):
    """List the models and datasets bench can use, and where each comes from."""
    from bench import plugins
    from bench.console import make_console

    kinds = {"models": ["model"], "datasets": ["dataset"], None: ["model", "dataset"]}[what]
    console, lines = make_console(), []
    for kind in kinds:
        rows = []
        for spec in plugins.discover(kind).values():
            # a built-in's file is bench's business; a user's plugin is shown where it is
            origin = spec.origin if spec.origin == "built-in" else \
                f"{spec.origin}: {spec.where()}" if spec.path else spec.where()
            rows.append((spec.name, origin, spec.description()))
        lines += _one_line_table(plugins.folder_word(kind), ("name", "from", "description"), rows, console.width)
        if kind == "dataset":
            lines += _prefix_table(console.width)
    lines.append("Each model's options, with their defaults: bench inspect --model NAME")
    for line in lines:
        console.print(line, markup=False, highlight=False, style="red" if "BROKEN:" in line else None)


def _one_line_table(title, columns, rows, width):
    """Text lines, one per row, at most `width` wide: the columns at their widths, the last
    one cut with an ellipsis."""
    widths = [max([len(column)] + [len(row[position]) for row in rows]) for position, column in enumerate(columns)]
    room = width - 2 * (len(columns) - 1) - DESCRIPTION_ROOM
    while sum(widths[:-1]) > room and max(widths[:-1]) > 8:  # the widest column gives way first
        widest = widths.index(max(widths[:-1]))
        widths[widest] -= 1

    def cut(text, size):
        return text if len(text) <= size else text[:size - 1] + "…"

    def line(cells):
        return cut("  ".join(cut(cell, size).ljust(size) for cell, size in zip(cells[:-1], widths)) + "  " + cells[-1],
                   width)

    rule = "  ".join("─" * size for size in widths)[:width]
    return [title, line(columns), rule] + [line(row) for row in rows] + [""]


def _prefix_table(width):
    """The datasets named by a prefix (bench.data.sources), one example each."""
    from bench.data import sources

    rows = [(f"{prefix}:", entry.example, entry.reads) for prefix, entry in sources.PREFIXES.items()]
    return _one_line_table("datasets by prefix (--dataset PREFIX:WHERE)", ("prefix", "example", "reads"), rows, width)
