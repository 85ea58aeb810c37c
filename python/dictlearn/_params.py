"""Estimator keywords to the library's flags, through its parameter tables.

Every option of the C++ library is a row of one of its parameter tables
(src/core/*parameters.cpp): flag, Python keyword, type, default, choices,
help. The estimators do not list flags by hand: each names the tables it
reads, and this module turns its keywords into (flag, text) pairs that the
library parses exactly as the command line's flags (fit_job_from_flags,
coding_options_from_flags). A new row reaches Python as a keyword of the
estimators that read its table; tests/test_parameters.py fails until their
``__init__`` signatures list it.

A keyword is sent only when it is not None and its text differs from the
row's default: None (and the default itself) leaves the library's default,
or the preset's, as `dictlearn fit` without the flag does.
"""

import numbers
import re

import numpy as np

from . import _core

TABLES = {name: _core.parameter_table(name) for name in ("fit", "fit_job", "learning", "coding")}


def rows(table, skip=()):
    """The rows of a table by Python keyword, without the keywords in `skip`."""
    return {row["python"]: row for row in TABLES[table] if row["python"] not in skip}


def _integer(name, value):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    raise ValueError(f"{name}: expected an integer, got {value!r}")


def flag_text(name, row, value):
    """The value as the library reads it for this row (parameter_value's text)."""
    kind = row["type"]
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_, numbers.Integral)):
            raise ValueError(f"{name}: expected a bool, got {value!r}")
        on = bool(value)
        return "true" if on != row["negated"] else "false"
    if kind in ("int", "int64", "uint64"):
        return str(_integer(name, value))
    if kind == "double":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name}: expected a number, got {value!r}")
        return repr(float(value))
    if kind == "choice":
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected one of {', '.join(row['choices'])}, got {value!r}")
        return value.replace("_", "-") if value.replace("_", "-") in row["choices"] else value
    return str(value)


def from_text(row, text):
    """A row's value as parameter_value writes it (a model's train.<flag>
    metadata) back as the keyword's Python value."""
    kind = row["type"]
    if kind == "bool":
        on = text == "true"
        return on != row["negated"]
    if kind in ("int", "int64", "uint64"):
        return int(text)
    if kind == "double":
        return float(text)
    return text


def to_flags(params, table_rows):
    """(flag, text) pairs for the keywords in `params` that the rows know.

    `table_rows`: keyword -> row (rows() of the tables the estimator reads,
    merged). Values equal to the row's default and None are not sent.
    """
    flags = []
    for name, value in params.items():
        row = table_rows.get(name)
        if row is None or value is None:
            continue
        text = flag_text(name, row, value)
        if text != row["default"]:
            flags.append((row["flag"], text))
    return flags


def seed_of(random_state):
    """random_state as the library's seed: None -> None (the library's default,
    0: runs repeat), an int as it is, a RandomState/Generator -> one draw."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    value = _integer("random_state", random_state)
    if value < 0:
        raise ValueError(f"random_state: must be >= 0, got {value}")
    return value


def threads_of(n_jobs):
    """n_jobs as the library's thread count: None or -1 -> 0 (all cores; the
    results do not depend on it), k >= 1 -> k; others refused."""
    if n_jobs is None:
        return None
    value = _integer("n_jobs", n_jobs)
    if value == -1:
        return 0
    if value < 1:
        raise ValueError(f"n_jobs: must be a positive number of threads, or -1 or None for "
                         f"all cores, got {value}")
    return value


_FLAG = re.compile(r"--([a-z0-9][a-z0-9-]*)")


def translate(error, table_rows, extra=None):
    """The library's message with each --flag replaced by the estimator's keyword."""
    by_flag = {row["flag"]: name for name, row in table_rows.items()}
    if extra:
        by_flag.update(extra)
    message = _FLAG.sub(lambda m: by_flag.get(m.group(1), m.group(0)), str(error))
    return ValueError(message)
