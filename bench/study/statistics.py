"""Runs of one configuration over seeds: groups, their spread, and Welch's t-test.

A group's metric is the mean, the sample standard deviation and the 95%
confidence interval of the mean (Student's t, n − 1 degrees of freedom); two
configurations on the same dataset that differ in one setting are compared
with Welch's t-test (`scipy.stats.ttest_ind(equal_var=False)`). Runs of other
lengths are never averaged together.
"""

import itertools
import json
import math

from bench.study.columns import CONFIG_COLUMNS, TESTED_METRICS, heading, metric_columns, number
from bench.study.rows import identity, metric_value

SIGNIFICANCE = 0.05
DAGGER = "†"
"""Marks an interval bound beyond what its metric can be."""


def spread(values, valid=(None, None)):
    """{n, mean, std, ci_low, ci_high, ci_note} of a sample: the sample standard deviation and
    the 95% confidence interval of the mean (Student's t); std and interval None when n < 2.
    `valid` = (low, high) is what the metric can be (None: no bound): an interval reaching
    beyond it gets a `ci_note` saying why (too few runs for the t interval to bound the mean)."""
    from scipy import stats

    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    if n < 2:
        return {"n": 1, "mean": mean, "std": None, "ci_low": None, "ci_high": None, "ci_note": None}
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    low, high = valid
    beyond = [f"below {low:g}" for _ in [0] if low is not None and mean - half < low] + \
             [f"above {high:g}" for _ in [0] if high is not None and mean + half > high]
    note = (f"the interval reaches {' and '.join(beyond)}, where the metric cannot be: Student's t from n={n} "
            "runs is too wide to bound the mean (more seeds narrow it)") if beyond else None
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "ci_note": note}


def interval_notes(rows, columns):
    """The legend line explaining DAGGER, when some shown interval reaches beyond its metric's range."""
    counts = sorted({row[key]["n"] for row in rows for key in columns
                     if isinstance(row.get(key), dict) and row[key].get("ci_note")})
    if not counts:
        return []
    return [f"{DAGGER} the 95% interval reaches beyond what the metric can be (an error below 0, an accuracy above 1): "
            f"Student's t from n={'/'.join(map(str, counts))} runs is too wide to bound the mean there; "
            "more seeds (--repeats) narrow it."]


def _mean_history(members):
    """The members' validation curves averaged over the epochs that all of them have."""
    curves = [{entry["epoch"]: entry["validation_error"] for entry in row["history"]} for row in members]
    epochs = sorted(set.intersection(*(set(curve) for curve in curves))) if curves else []
    history = []
    for epoch in epochs:
        summary = spread([curve[epoch] for curve in curves])
        history.append({"epoch": epoch, "validation_error": summary["mean"], "std": summary["std"] or 0.0})
    return history


def group_key(row):
    """What puts runs in one group: the same configuration but the seed, trained for the same
    number of epochs (runs of other lengths are never averaged together); a damaged run and
    a run a search pruned are groups of their own."""
    if row.get("damage") or row.get("status") == "pruned":
        return row["path"]
    return json.dumps(dict(identity(row["config"]), epochs=row["epochs"]), sort_keys=True, default=str)


def should_group(rows):
    """Whether some configuration has been run with more than one seed (for as many epochs)."""
    keys = [group_key(row) for row in rows]
    return len(set(keys)) < len(keys)


def group_rows(rows, columns=None):
    """One row per configuration and length (runs that differ only by seed), with each
    metric's spread over the runs that have it, and {metric: how many stale records were
    left out} under "stale"."""
    columns = columns or metric_columns(rows)
    groups = {}
    for row in rows:
        groups.setdefault(group_key(row), []).append(row)
    return [_group(sorted(members, key=lambda row: (row["seed"] is None, row["seed"] or 0)), columns)
            for members in groups.values()]


def _group(members, columns):
    first = members[0]
    finished = sum(row["status"] == "finished" for row in members)
    group = {key: first.get(key) for key in CONFIG_COLUMNS}
    group.update(
        n=len(members), seeds=[row["seed"] for row in members], epochs=first["epochs"],
        status=(first["status"] if len(members) == 1 else
                "finished" if finished == len(members) else f"{finished} of {len(members)} finished"),
        paths=[row["path"] for row in members], config=first.get("config") or {},
        identity=dict(identity(first["config"]), epochs=first["epochs"]) if not first.get("damage") else {},
        history=_mean_history([row for row in members if row["history"]]),
        values={key: [v for v in (metric_value(row, key) for row in members) if v is not None] for key in columns},
        stale={key: count for key in columns
               if (count := sum(1 for row in members if row.get("stale", {}).get(key)))})
    if first.get("damage"):
        group["damage"] = first["damage"]
    for key, column in columns.items():
        group[key] = spread(group["values"][key], column.valid)
    return group


def differences(groups):
    """Welch's t-test for each pair of configurations on one dataset that differ in one setting.

    Returns:
        [{dataset, model, setting, a, b, metric, mean_a, mean_b, std_a, std_b, n_a, n_b,
          difference (b − a), p_value, larger_than_spread}], for the metrics in
        TESTED_METRICS where both sides have at least two runs.
    """
    found = []
    for a, b in itertools.combinations(groups, 2):
        if a["dataset"] != b["dataset"]:
            continue
        differing = [key for key in a["identity"] if a["identity"][key] != b["identity"].get(key)]
        if len(differing) != 1:
            continue
        setting, value_a, value_b = _differing(differing[0], a["identity"], b["identity"])
        try:  # from the smaller value of the setting to the larger, whatever the sort order
            if value_b < value_a:
                a, b, value_a, value_b = b, a, value_b, value_a
        except TypeError:
            pass
        found += [dict(test_pair(a, b, metric), setting=setting, a=value_a, b=value_b) for metric in TESTED_METRICS
                  if len(a["values"][metric]) >= 2 and len(b["values"][metric]) >= 2]
    return found


def _differing(key, identity_a, identity_b):
    """(setting, value in a, value in b): inside a JSON option, its one differing key, dotted
    (optimizer_args.learning_rate), rather than the whole mapping."""
    value_a, value_b = identity_a[key], identity_b.get(key)
    if isinstance(value_a, dict) and isinstance(value_b, dict):
        inner = [name for name in sorted(set(value_a) | set(value_b)) if value_a.get(name) != value_b.get(name)]
        if len(inner) == 1:
            return f"{key}.{inner[0]}", value_a.get(inner[0]), value_b.get(inner[0])
    return key, value_a, value_b


def test_pair(a, b, metric):
    """Welch's t-test of two groups' `metric`, and the bootstrap probability that B's mean is
    better than A's (lower, for the errors TESTED_METRICS holds)."""
    values_a, values_b = a["values"][metric], b["values"][metric]
    p_value = welch_p(values_a, values_b)
    return {"dataset": a["dataset"], "model": a["model"], "metric": metric,
            "mean_a": a[metric]["mean"], "mean_b": b[metric]["mean"], "std_a": a[metric]["std"],
            "std_b": b[metric]["std"], "n_a": len(values_a), "n_b": len(values_b),
            "difference": b[metric]["mean"] - a[metric]["mean"], "p_value": p_value,
            "probability_b_better": probability_better(values_b, values_a),
            "larger_than_spread": p_value is not None and p_value < SIGNIFICANCE}


def versus(groups, selectors):
    """Welch's t-test and the probability of improvement between the two groups that the
    selectors ("key=value,key=value", as --where takes them) pick, whatever their settings.

    Raises:
        BenchUsageError: a selector that picks no group, or several.
    """
    from bench.errors import BenchUsageError
    from bench.study.rows import matches, parse_where

    picked = []
    for selector in selectors:
        conditions = parse_where([part for part in selector.split(",") if part.strip()])
        chosen = [group for group in groups if not group.get("damage")
                  and all(matches(group, key, value, text) for key, value, text in conditions)]
        if len(chosen) != 1:
            what = "no configuration" if not chosen else f"{len(chosen)} configurations"
            raise BenchUsageError(f"--versus {selector!r} picks {what} among those shown; each side must pick "
                                  "one, e.g. --versus lr=0.001 lr=0.01,batch_size=32")
        picked.append(chosen[0])
    a, b = picked
    return [dict(test_pair(a, b, metric), setting=None, a=selectors[0], b=selectors[1]) for metric in TESTED_METRICS
            if len(a["values"][metric]) >= 2 and len(b["values"][metric]) >= 2]


def difference_lines(found):
    """Each Welch's t-test in words."""
    if not found:
        return []
    lines = [f"Welch's t-test (scipy.stats.ttest_ind, equal_var=False) of configurations that differ in one "
             f"setting, and of those --versus names; p < {SIGNIFICANCE} reads as a difference larger than the seed "
             "spread, and the probability that the second is better comes from resampling their runs:"]
    for item in found:
        metric = item["metric"]
        p_value = item["p_value"]
        verdict = ("no spread to compare with (identical runs)" if p_value is None else
                   f"p = {p_value:.3g}: " + ("larger than the seed spread" if item["larger_than_spread"]
                                             else "within the seed spread"))
        subject = item["dataset"] if item["setting"] in ("model", None) else f"{item['model']} on {item['dataset']}"
        chance = item.get("probability_b_better")
        verdict += "" if chance is None else f"; probability that the second is better (bootstrap): {chance:.2f}"
        pair = f"{item['setting']} {item['a']} → {item['b']}" if item["setting"] else f"{item['a']} → {item['b']}"
        lines.append(f"  {subject}, {pair}: "
                     f"{heading(metric)} {number(metric, item['mean_a'])} ± {number(metric, item['std_a'])} "
                     f"(n={item['n_a']}) → {number(metric, item['mean_b'])} ± {number(metric, item['std_b'])} "
                     f"(n={item['n_b']}), difference {item['difference']:+.5g}; {verdict}")
    return lines


BOOTSTRAP_ROUNDS = 10_000


def welch_p(values_a, values_b):
    """Welch's t-test p-value of two samples (None when neither varies, or a side has < 2)."""
    from scipy import stats

    if len(values_a) < 2 or len(values_b) < 2:
        return None
    p_value = float(stats.ttest_ind(values_a, values_b, equal_var=False).pvalue)
    return None if math.isnan(p_value) else p_value


def probability_better(values_a, values_b, lower_is_better=True, rounds=BOOTSTRAP_ROUNDS, seed=0):
    """The probability that configuration A's mean beats B's, by bootstrap: each sample
    resampled with replacement `rounds` times (a fixed seed: the same figure in every
    process), ties counted half (Bouthillier et al., 2021, "Accounting for variance")."""
    import numpy as np

    if not values_a or not values_b:
        return None
    rng = np.random.default_rng(seed)
    means_a = rng.choice(np.asarray(values_a, float), (rounds, len(values_a))).mean(axis=1)
    means_b = rng.choice(np.asarray(values_b, float), (rounds, len(values_b))).mean(axis=1)
    better = means_a < means_b if lower_is_better else means_a > means_b
    return float(better.mean() + 0.5 * (means_a == means_b).mean())


def expected_best(values, lower_is_better=True):
    """The best score expected from k trials drawn from `values` (with replacement), for k =
    1..len(values), with its standard deviation (Dodge et al., 2019, "Show your work").

    Returns:
        [{k, mean, std}]: for the k-th, E[best of k] = Σ_i v_(i) · (P(best ≤ rank i) − P(best ≤ rank i−1)),
        the values ranked from worst to best, P(best ≤ rank i) = (i/N)^k.
    """
    ranked = sorted(values, reverse=lower_is_better)  # worst first
    count = len(ranked)
    curve = []
    for k in range(1, count + 1):
        weights = [((i + 1) / count) ** k - (i / count) ** k for i in range(count)]
        mean = sum(w * v for w, v in zip(weights, ranked))
        second = sum(w * v * v for w, v in zip(weights, ranked))
        curve.append({"k": k, "mean": mean, "std": math.sqrt(max(0.0, second - mean * mean))})
    return curve
