"""A search's winner confirmed: its K best trials retrained over R seeds the search never
used, the winner chosen by its confirmed mean, and tested against the runner-up.

A search's best value is the best of many noisy draws, so it is optimistic (the
winner's curse) and the order of close trials is partly luck. SMAC3 races its
incumbents over seeds for this reason; bench retrains the top candidates as ordinary
run folders (bench.study.confirming trains them) and reports, per candidate, the
search's value beside the confirmed n, mean, std and 95 % interval, with Welch's
t-test and a bootstrap probability that the winner beats the runner-up.

What was confirmed (the candidates, their settings, the seeds and the run folders) is
kept in the study (CONFIRMATION); the figures are read from the run folders each time
they are shown, so a new process gets the same figures, and a changed run shows.
"""

from bench.errors import BenchError
from bench.study import pruning
from bench.run.runs import RunFolder
from bench.study.statistics import DAGGER, SIGNIFICANCE, probability_better, spread, welch_p
from bench.study.study import RUNS, STD, point_key

CONFIRMATION = "bench_confirmation"
"""The study's user attribute: {k, repeats, seeds, candidates: [{trial, params, search_value,
search_std, search_n, runs}]}."""
SEED_BASE = 1000
"""Confirmation seeds are the smallest integers from here that no trial of the study used."""


def choose_candidates(study, count, objective):
    """The `count` best completed trials of `study` with distinct settings, best first:
    [{trial, params, search_value, search_std, search_n}]."""
    from optuna.trial import TrialState

    sign = -1.0 if pruning.OBJECTIVES[objective] == "maximize" else 1.0
    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                      key=lambda trial: (sign * trial.value, trial.number))
    chosen, seen = [], set()
    for trial in complete:
        key = point_key(trial.params)
        if key in seen:
            continue
        seen.add(key)
        chosen.append({"trial": trial.number, "params": dict(trial.params), "search_value": trial.value,
                       "search_std": trial.user_attrs.get(STD), "search_n": len(trial.user_attrs.get(RUNS) or [0])})
        if len(chosen) == count:
            break
    return chosen


def used_seeds(study, space):
    """Every seed a trial of the study trained with (its point's seed and its repeats')."""
    used = set()
    for trial in study.get_trials(deepcopy=False):
        first = int(trial.params.get("seed", space.fixed.get("seed", 0)) or 0)
        used.update(range(first, first + max(1, len(trial.user_attrs.get(RUNS) or []))))
    return used


def fresh_seeds(count, used, recorded=()):
    """`count` seeds no trial used: those recorded by an earlier confirmation first (its runs are
    kept), then the smallest from SEED_BASE up."""
    seeds = [seed for seed in recorded if seed not in used][:count]
    candidate = SEED_BASE
    while len(seeds) < count:
        if candidate not in used and candidate not in seeds:
            seeds.append(candidate)
        candidate += 1
    return seeds


def plan_confirmation(study, space, settings, plan_of):
    """Choose the candidates and seeds, plan their runs, record it all in the study.

    Args:
        plan_of: {point → the run's Plan} (bench.run.planning.plan_run of its TrainConfig).

    Returns:
        (the record, [(label, point, plan)] of every confirmation run).
    """
    recorded = study.user_attrs.get(CONFIRMATION) or {}
    seeds = fresh_seeds(settings.confirm_repeats, used_seeds(study, space), recorded.get("seeds", ()))
    candidates = choose_candidates(study, settings.confirm, settings.objective)
    runs = []
    for candidate in candidates:
        candidate["runs"] = []
        for seed in seeds:
            point = dict(space.point(candidate["params"]), seed=seed)
            plan = plan_of(point)
            candidate["runs"].append(plan.folder)
            runs.append((f"confirming trial {candidate['trial']}, seed {seed}", point, plan))
    record = {"k": settings.confirm, "repeats": settings.confirm_repeats, "seeds": seeds, "candidates": candidates}
    study.set_user_attr(CONFIRMATION, record)
    return record, runs


def confirmation_figures(record, objective):
    """The confirmation's figures, read from its run folders: {objective, direction, seeds,
    candidates (each with n, mean, std, ci95, runs, missing), winner, runner_up, p_value,
    probability_better, separated}; winner and runner_up are trial numbers (None when fewer
    candidates have a confirmed run)."""
    lower = pruning.OBJECTIVES[objective] == "minimize"
    candidates = [_confirmed(candidate, objective) for candidate in record["candidates"]]
    ranked = sorted((c for c in candidates if c["n"]), key=lambda c: (c["mean"] if lower else -c["mean"], c["trial"]))
    figures = {"objective": objective, "direction": pruning.OBJECTIVES[objective], "seeds": record["seeds"],
               "candidates": candidates, "winner": None, "runner_up": None, "p_value": None,
               "probability_better": None, "separated": None}
    if ranked:
        figures["winner"] = ranked[0]["trial"]
    if len(ranked) > 1:
        best, second = ranked[0], ranked[1]
        p_value = welch_p(best["values"], second["values"])
        figures.update(runner_up=second["trial"], p_value=p_value,
                       probability_better=probability_better(best["values"], second["values"], lower),
                       separated=p_value is not None and p_value < SIGNIFICANCE)
    return figures


def _confirmed(candidate, objective):
    """A candidate with its confirmed runs' figures (a run not finished, or damaged, is missing)."""
    values, missing = [], []
    for folder in candidate["runs"]:
        try:
            results = RunFolder(folder).read_results()
        except BenchError as error:
            missing.append(f"{folder}: {error}")
            continue
        value = pruning.objective_value(results, objective)
        if results.get("status") != "finished" or value is None:
            missing.append(f"{folder}: {results.get('status') or 'no results'}")
            continue
        values.append(value)
    valid = (None, None) if pruning.OBJECTIVES[objective] == "maximize" else (0.0, None)
    summary = spread(values, valid) or {"n": 0, "mean": None, "std": None, "ci_low": None, "ci_high": None}
    mean = summary["mean"]
    curse = (None if mean in (None, 0) or candidate["search_value"] is None
             else (candidate["search_value"] - mean) / abs(mean))
    return {"trial": candidate["trial"], "settings": candidate["params"], "search_value": candidate["search_value"],
            "search_std": candidate.get("search_std"), "search_n": candidate.get("search_n", 1),
            "n": summary["n"], "mean": mean, "std": summary["std"],
            "ci95": None if summary["ci_low"] is None else [summary["ci_low"], summary["ci_high"]],
            "ci_note": summary.get("ci_note"), "curse": curse, "values": values, "runs": candidate["runs"], "missing": missing}


def confirmation_lines(figures):
    """The confirmation in words: one line per candidate, then the verdict."""
    seeds = figures["seeds"]
    lines = [f"confirmation: the {len(figures['candidates'])} best trials retrained over {len(seeds)} seeds the search "
             f"never used ({', '.join(map(str, seeds))}); search value → confirmed mean ± std [95% interval]:"]
    for candidate in figures["candidates"]:
        lines.append("  " + candidate_line(candidate, figures))
    if any(candidate["ci_note"] for candidate in figures["candidates"]):
        lines.append(f"  {DAGGER} the interval reaches where the metric cannot be: Student's t from "
                     f"{len(seeds)} seeds is too wide to bound the mean (more seeds narrow it)")
    lines += verdict_lines(figures)
    return lines


def candidate_line(candidate, figures):
    """`trial 3 (lr=0.003 ...): 0.05712 → 0.06104 ± 0.00311 [0.0533, 0.0688] n=3; the search was 6.4% optimistic`."""
    mark = " (winner)" if candidate["trial"] == figures["winner"] else ""
    head = f"trial {candidate['trial']}{mark} ({settings_text(candidate['settings'])}): {_number(candidate['search_value'])}"
    if not candidate["n"]:
        return f"{head} → not confirmed yet ({len(candidate['missing'])} run(s) to train)"
    text = f"{head} → {_number(candidate['mean'])}"
    if candidate["std"] is not None:
        low, high = candidate["ci95"]
        dagger = DAGGER if candidate["ci_note"] else ""
        text += f" ± {_number(candidate['std'])} [{_number(low)}, {_number(high)}]{dagger}"
    text += f" n={candidate['n']}"
    if candidate["missing"]:
        text += f" ({len(candidate['missing'])} run(s) not finished)"
    if candidate["curse"] is not None:
        optimistic = candidate["curse"] < 0 if figures["direction"] == "minimize" else candidate["curse"] > 0
        text += f"; the search's value was {abs(candidate['curse']) * 100:.1f}% " + \
            ("optimistic" if optimistic else "pessimistic")
    return text


def verdict_lines(figures):
    """Whether the winner beats the runner-up, in words."""
    if figures["winner"] is None:
        return ["no candidate has a confirmed run yet: run the same bench search command to train them"]
    if figures["runner_up"] is None:
        return [f"winner: trial {figures['winner']} (no runner-up to test it against: --confirm 2 or more)"]
    seeds = len(figures["seeds"])
    p_value, chance = figures["p_value"], figures["probability_better"]
    tested = (f"Welch's t-test p = {p_value:.3g}" if p_value is not None else "Welch's t-test: no spread")
    head = (f"winner: trial {figures['winner']}, against the runner-up trial {figures['runner_up']}: {tested}; "
            f"probability that it is better (bootstrap): {chance:.2f}")
    if figures["separated"]:
        return [head + ".", f"At {seeds} seeds the winner is better than the runner-up beyond the seed spread."]
    return [head + ".", f"At {seeds} seeds the two cannot be told apart: the difference is within the seed spread. "
                        "Take either, or confirm with more seeds (--confirm-repeats)."]


def settings_text(params):
    """`lr=0.003 batch_size=64` of a trial's settings, 4 significant digits."""
    return " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                    for key, value in params.items())


def _number(value):
    return "—" if value is None else f"{value:.5f}"

