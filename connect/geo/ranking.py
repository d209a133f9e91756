"""Fair ranking: one score from distance, urgency and waiting time (docs/ranking.md).

    rank_m = distance_m / (1 + U * urgent + W * min(hours waited, C))

with U = RANK_URGENT_WEIGHT, W = RANK_WAIT_WEIGHT_PER_HOUR and C = RANK_WAIT_CAP_HOURS.

Lower ranks first; equal ranks go nearest first, then by id. The score is an "effective
distance" in metres: urgency and waiting shrink the distance by a bounded factor, so among
requests of equal urgency and waiting the order is plain distance order, and no request can
rank better than ``distance_m / max_divisor``, which lets a search walking outwards in
distance order stop exactly. Pure: no Flask, no database.
"""

import math
from dataclasses import dataclass

import numpy as np

RANK = "rank"
DISTANCE = "distance"
SORTS = (RANK, DISTANCE)
DEFAULT_SORT = RANK

_HOUR = 3600.0


@dataclass(frozen=True)
class Weights:
    """How much being urgent, and each hour of waiting (up to a cap), shorten a distance."""

    urgent: float = 1.0
    wait_per_hour: float = 0.2
    wait_cap_hours: float = 24.0

    def __post_init__(self):
        for name in ("urgent", "wait_per_hour", "wait_cap_hours"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"ranking weight {name} must be a finite number >= 0, got {value!r}"
                )
            object.__setattr__(self, name, float(value))

    @classmethod
    def from_config(cls, config):
        """The weights from the RANK_* settings (connect.config), defaults where unset."""
        default = cls()
        return cls(
            urgent=config.get("RANK_URGENT_WEIGHT", default.urgent),
            wait_per_hour=config.get("RANK_WAIT_WEIGHT_PER_HOUR", default.wait_per_hour),
            wait_cap_hours=config.get("RANK_WAIT_CAP_HOURS", default.wait_cap_hours),
        )

    @property
    def max_divisor(self):
        """The largest divisor any request can reach: urgent and waiting at least the cap."""
        # The same operations, in the same order, as divisor(): rounding is monotone, so no
        # computed divisor can exceed this one.
        return 1.0 + self.urgent * 1.0 + self.wait_per_hour * self.wait_cap_hours


def divisor(urgent, waiting_s, weights):
    """How many times closer than its distance a request ranks (>= 1)."""
    wait_h = min(max(waiting_s, 0.0) / _HOUR, weights.wait_cap_hours)
    return 1.0 + weights.urgent * float(bool(urgent)) + weights.wait_per_hour * wait_h


def score(distance_m, urgent, waiting_s, weights):
    """The rank of one request in effective metres: lower ranks first."""
    return distance_m / divisor(urgent, waiting_s, weights)


def scores_np(distance_m, urgent, waiting_s, weights):
    """score() over float64 arrays (urgent as bools or 0/1); bit-for-bit the same values."""
    # Few, in-place numpy steps: this runs on every nearby list's candidates.
    wait_h = np.maximum(waiting_s, 0.0)
    wait_h /= _HOUR
    np.minimum(wait_h, weights.wait_cap_hours, out=wait_h)
    wait_h *= weights.wait_per_hour
    boost = np.multiply(urgent, weights.urgent, dtype=np.float64)
    boost += 1.0
    boost += wait_h
    return np.divide(distance_m, boost, dtype=np.float64)


def order(ids, distances, scores):
    """Positions by score, then distance, then id: the one deterministic ranked order."""
    return np.lexsort((ids, distances, scores))
