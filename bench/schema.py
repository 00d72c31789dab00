"""The checkers of bench's documents: the one validator that every reader uses (train,
eval, compare, export, sweep). results.json's schema is built of them in
bench.run.results, config.yaml's through the option table (bench.run.config.check_values),
a TFRecord manifest's in bench.data.records.

A document that fails it makes only its own run "damaged": the error names the
file and the first key that is wrong, and nothing is written. Fields bench does
not know are let through (a later bench may add some); a field it knows must
have the type and range bench writes, whatever it holds.

Nothing here imports TensorFlow, nor any other part of bench.
"""

import math


class Invalid(ValueError):
    """What is wrong in a document, the path of the key first ("history[3].epoch is ...")."""


def shown(value):
    """A value as an error message shows it: its repr, cut at 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def kind_of(value):
    """A value's kind in words: "an object", "a list", "text", "a number"..."""
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


# -- checkers: each is a function (value, where) that raises Invalid ---------------

def number(low=None, high=None, nullable=False, finite=False):
    """A JSON number (not true/false), within [low, high] when they are given (NaN and
    infinities are numbers bench writes: a diverged loss, the psnr of a perfect copy;
    `finite`: not here, e.g. a best model's error)."""
    def check(value, where):
        if value is None and nullable:
            return
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Invalid(f"{where} is {shown(value)}, not a number")
        if finite and not math.isfinite(value):
            raise Invalid(f"{where} is {value!r}, not a finite number")
        if math.isfinite(value) and ((low is not None and value < low) or (high is not None and value > high)):
            raise Invalid(f"{where} is {value!r}, outside [{low}, {high}]")
    return check


def integer(low=0):
    """A whole number ≥ low."""
    def check(value, where):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(f"{where} is {shown(value)}, not an integer")
        if value < low:
            raise Invalid(f"{where} is {value}, less than {low}")
    return check


def text(choices=None):
    """A string, one of `choices` when given."""
    def check(value, where):
        if not isinstance(value, str):
            raise Invalid(f"{where} is {kind_of(value)} ({shown(value)}), not text")
        if choices is not None and value not in choices:
            raise Invalid(f"{where} is {value!r}, not one of {', '.join(choices)}")
    return check


def flag():
    """true or false."""
    def check(value, where):
        if not isinstance(value, bool):
            raise Invalid(f"{where} is {shown(value)}, not true or false")
    return check


def list_of(item):
    """A list whose every item passes `item`."""
    def check(value, where):
        if not isinstance(value, list):
            raise Invalid(f"{where} is {kind_of(value)} ({shown(value)}), not a list")
        for index, element in enumerate(value):
            item(element, f"{where}[{index}]")
    return check


def map_of(item, key=None):
    """An object whose every value passes `item` (and every key `key`, a checker of text)."""
    def check(value, where):
        if not isinstance(value, dict):
            raise Invalid(f"{where} is {kind_of(value)} ({shown(value)}), not an object")
        for name, element in value.items():
            if key is not None:
                key(name, f"{where} key")
            item(element, f"{where}[{name!r}]")
    return check


def record(required, optional=None):
    """An object with every key of `required` and, when present, those of `optional`,
    each passing its checker; other keys are let through."""
    optional = optional or {}

    def check(value, where):
        if not isinstance(value, dict):
            raise Invalid(f"{where} is {kind_of(value)} ({shown(value)}), not an object")
        for name, checker in required.items():
            if name not in value:
                raise Invalid(f"{where} lacks '{name}'")
            checker(value[name], f"{where}.{name}")
        for name, checker in optional.items():
            if name in value:
                checker(value[name], f"{where}.{name}")
    return check


def digits(value, where):
    """A key that spells a whole number ("10")."""
    if not value.isdigit():
        raise Invalid(f"{where} {value!r} is not a whole number")
