"""Order studies (Lu et al. 2022, "Fantastically Ordered Prompts", arXiv:2104.08786): the same demonstrations in
many orders. `order_permutations` gives the orders a sweep runs; `order_spread` how far they spread, per
demonstration set and across sets."""

from __future__ import annotations

import itertools
import math
import random
import statistics

from finetune_toolkit.core.errors import UserError

# Orders `--orders all` runs without --max_orders: 5 demonstrations (120 orders); 6 would be 720.
MAX_ORDERS = 120


def order_permutations(shots: int, orders: str, seed: int, max_orders: int = MAX_ORDERS) -> list[tuple[int, ...]]:
    """The orders of `shots` demonstrations to run: `all` (every one of the shots! orders, refused above
    `max_orders`) or a number N (the selection's own order first, then N-1 other orders drawn with `seed`; all of
    them when N >= shots!). Position i of an order shows the demonstration the selection put at index order[i]."""
    every = math.factorial(shots)
    if orders == "all":
        if every > max_orders:
            raise UserError(f"--orders all with {shots} shots is {every} orders, more than --max_orders {max_orders}; "
                            "give a number of orders (e.g. --orders 24) or raise --max_orders")
        return list(itertools.permutations(range(shots)))
    count = int(orders)
    if count >= every:
        return list(itertools.permutations(range(shots)))
    rng, identity = random.Random(f"orders:{seed}:{shots}"), tuple(range(shots))
    chosen = [identity]
    while len(chosen) < count:
        order = list(identity)
        rng.shuffle(order)
        if tuple(order) not in chosen:
            chosen.append(tuple(order))
    return chosen


def check_orders(orders: str | None, shots: list[int], max_orders: int) -> None:
    """Refuse, before anything loads, an `--orders` value that is neither a positive number nor `all`, or `all` over
    the limit for some shot count."""
    if orders is None:
        return
    if orders != "all" and not (orders.isdigit() and int(orders) > 0):
        raise UserError(f"--orders takes a positive number or all, got {orders!r}")
    for count in shots:
        if count > 0:
            order_permutations(count, orders, 0, max_orders)


def order_spread(rows: list[dict], metric: str = "accuracy") -> list[dict]:
    """Per model, template, shots, condition and calibration: for each demonstration set (seed) the metric's mean,
    min, max and std over its orders, and one `set: "all"` entry with the spread of the sets' means beside the mean
    spread within a set."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        if row.get("order") is None or row.get(metric) is None:
            continue
        key = (row["model"], row["template"], row["selection"], row["shots"], row.get("condition", "gold"), row["calibrated"])
        groups.setdefault(key, {}).setdefault(row["seed"], []).append(row[metric])
    spread = []
    for (model, template, selection, shots, condition, calibrated), sets in groups.items():
        base = {"model": model, "template": template, "selection": selection, "shots": shots, "condition": condition,
                "calibrated": calibrated, "metric": metric}
        for seed, values in sorted(sets.items()):
            spread.append({**base, "set": seed, "orders": len(values), "mean": statistics.fmean(values), "min": min(values),
                           "max": max(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0})
        means = [statistics.fmean(values) for values in sets.values()]
        within = [entry["std"] for entry in spread[-len(sets):]]
        spread.append({**base, "set": "all", "orders": sum(len(v) for v in sets.values()), "mean": statistics.fmean(means),
                       "min": min(min(v) for v in sets.values()), "max": max(max(v) for v in sets.values()),
                       "std_across_sets": statistics.stdev(means) if len(means) > 1 else 0.0,
                       "std_within_sets": statistics.fmean(within)})
    return spread
