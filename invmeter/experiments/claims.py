"""Claims judged honestly: on every seed and on the mean over seeds, inconclusive when a model they rely on did not
learn, with the paper's number beside ours.

A figure's ``claims(rows, preset)`` returns one :class:`Check` per claim, computed on whatever rows it is given;
:func:`judge` calls it on each seed's rows, then on the rows of the seeds it can judge (means over those seeds), and
combines the verdicts:

- a check is **inconclusive** when a model it relies on did not learn its own pretraining task (its test accuracy
  within :func:`learnt`'s margin of chance): its transfer numbers then measure failed training, not invariance;
- a seed on which a claim's check is inconclusive is **excluded** from that claim, with its reason: the claim's mean
  and effect are over the other seeds;
- a claim **holds** when it holds on that mean and on a majority of the seeds judged; it is **inconclusive** when no
  more than half of all seeds can be judged, or when it is inconclusive on the mean; otherwise it **fails**.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "LEARNT_FRACTION", "LEARNT_SE", "STATUSES", "Check", "Claim", "Paper", "Reference", "Tally", "combine", "judge",
    "learnt", "references",
]

STATUSES = ("holds", "fails", "inconclusive")
SYMBOLS = {"holds": "✔", "fails": "✘", "inconclusive": "?"}
LEARNT_FRACTION = 0.10  # a model learnt if its accuracy is at least this fraction of the way from chance to 1 ...
LEARNT_SE = 2.0  # ... and at least this many standard errors of a chance-level guesser above chance


def learnt(accuracy: float, chance: float, n_test: int) -> bool:
    """Whether a test accuracy (fraction, on ``n_test`` images) shows that a model learnt its task: at least
    ``chance + max(LEARNT_FRACTION · (1 − chance), LEARNT_SE · sqrt(chance (1 − chance) / n_test))``.

    E.g. 10 classes, 1,000 test images: at least 0.19; 3 classes, 12 test images: at least 0.61.
    """
    margin = max(LEARNT_FRACTION * (1.0 - chance), LEARNT_SE * math.sqrt(chance * (1.0 - chance) / max(n_test, 1)))
    return accuracy >= chance + margin


@dataclass(frozen=True)
class Reference:
    """A trained model a check relies on: its pretraining test accuracy (mean over the rows' seeds), the chance level
    of its pretraining task and the number of test images."""

    name: str
    accuracy: float
    chance: float
    n_test: int

    @property
    def learnt(self) -> bool:
        return learnt(self.accuracy, self.chance, self.n_test)


@dataclass(frozen=True)
class Paper:
    """The paper's numbers for a claim.

    Attributes:
        values: As reported, e.g. ``"D_transforms 0.98, D_objects 0.91"`` (or why there are none).
        effect: The same effect size a :class:`Check` reports, computed from those numbers (``None``: not reported).
        source: Where they come from, e.g. ``"TMLR Fig. 2 (paper.md §5.1)"``.
    """

    values: str
    effect: float | None
    source: str


NOT_REPORTED = "not reported"


@dataclass(frozen=True)
class Check:
    """One claim checked on one set of rows (one seed's, or every seed's means).

    Attributes:
        effect: The claim's effect size in the units of ``measured`` (e.g. an accuracy gap), compared with the
            paper's ``paper.effect``.
        references: The trained models the check relies on; if one did not learn, the check is inconclusive.
        missing: What the check could not measure (e.g. rows of an older run); if set, the check is inconclusive.
    """

    id: str
    text: str
    measured: dict[str, Any]
    holds: bool
    effect: float | None = None
    references: tuple[Reference, ...] = ()
    paper: Paper | None = None
    missing: str = ""

    @property
    def status(self) -> str:
        return "inconclusive" if self.unlearnt or self.missing else ("holds" if self.holds else "fails")

    @property
    def unlearnt(self) -> list[Reference]:
        return [r for r in self.references if not r.learnt]

    @property
    def reason(self) -> str:
        """Why the check is inconclusive ("" if it is not)."""
        if self.missing:
            return self.missing
        bad = self.unlearnt
        if not bad:
            return ""
        shown = ", ".join(f"{r.name} {r.accuracy:.2f} (chance {r.chance:.2f})" for r in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        return f"a model did not learn its pretraining task: {shown}{more}"


@dataclass(frozen=True)
class Claim:
    """A claim's verdict over every seed.

    Attributes:
        status: ``holds``, ``fails`` or ``inconclusive`` (see the module docstring).
        measured: The numbers on the means over the seeds judged (every seed on which the claim's check is
            conclusive); ``effect`` likewise.
        per_seed: ``{seed: {"status", "effect", "measured", "reason"}}`` (an inconclusive seed is excluded).
        reason: Why the claim is inconclusive or fails, and which seeds were excluded and why ("" when it holds on
            every seed judged and none was excluded).
        paper: The paper's numbers (``None`` when the paper reports none).
    """

    id: str
    text: str
    status: str
    measured: dict[str, Any]
    effect: float | None
    per_seed: dict[str, dict[str, Any]]
    reason: str
    paper: Paper | None

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    @property
    def effect_ratio(self) -> float | None:
        """Our effect ÷ the paper's (``None`` when either is missing or the paper's is 0)."""
        if self.effect is None or self.paper is None or not self.paper.effect:
            return None
        return self.effect / self.paper.effect

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "status": self.status, "holds": self.holds,
                "measured": self.measured, "effect": self.effect, "per_seed": self.per_seed, "reason": self.reason,
                "paper": None if self.paper is None else vars(self.paper), "effect_ratio": self.effect_ratio}


def combine(mean: Check, seeds: dict[str, Check]) -> tuple[str, str]:
    """The verdict and its reason from the check on the means (over the seeds judged) and the checks of each seed;
    a seed whose check is inconclusive is excluded, and its reason is part of the verdict's."""
    n = len(seeds)
    statuses = [c.status for c in seeds.values()]
    held, conclusive = statuses.count("holds"), n - statuses.count("inconclusive")
    excluded = "; ".join(f"seed {s} excluded: {c.reason}" for s, c in seeds.items() if c.status == "inconclusive")
    if conclusive * 2 <= n:
        return "inconclusive", f"conclusive on {conclusive} of {n} seeds ({excluded.replace(' excluded', '')})"
    if mean.status == "inconclusive":
        return "inconclusive", f"on the mean over seeds: {mean.reason}"
    judged = f"{conclusive} seeds judged" if excluded else f"{n} seeds"
    if mean.holds and held * 2 > conclusive:
        return "holds", f"on {judged} ({excluded})" if excluded else ""
    why = (f"fails on the mean; holds on {held} of {judged}" if not mean.holds
           else f"holds on the mean but only on {held} of {judged}")
    return "fails", f"{why} ({excluded})" if excluded else why


def judge(check: Callable[[list[dict[str, Any]], str], list[Check]], rows: Sequence[dict[str, Any]],
          preset: str) -> list[Claim]:
    """Run ``check`` (a figure's ``claims``) on each seed's rows, then on the rows of the seeds each claim can judge
    (all seeds, less those on which its check is inconclusive); one :class:`Claim` per check."""
    rows = list(rows)
    everything = check(rows, preset)
    seeds = sorted({r["seed"] for r in rows})
    per_seed = {str(s): {c.id: c for c in check([r for r in rows if r["seed"] == s], preset)} for s in seeds}
    means: dict[tuple[str, ...], dict[str, Check]] = {}
    out = []
    for c in everything:
        mine = {s: checks[c.id] for s, checks in per_seed.items() if c.id in checks}
        kept = tuple(s for s, k in mine.items() if k.status != "inconclusive")
        if kept and len(kept) < len(mine):  # the mean over the seeds judged
            if kept not in means:
                means[kept] = {k.id: k for k in check([r for r in rows if str(r["seed"]) in kept], preset)}
            c = means[kept].get(c.id, c)
        status, reason = combine(c, mine)
        out.append(Claim(
            id=c.id, text=c.text, status=status, measured=c.measured, effect=c.effect, reason=reason, paper=c.paper,
            per_seed={s: {"status": k.status, "effect": k.effect, "measured": k.measured, "reason": k.reason}
                      for s, k in mine.items()},
        ))
    return out


def references(rows: Sequence[dict[str, Any]], names: dict[str, Callable[[dict[str, Any]], bool]]) -> tuple[Reference, ...]:
    """One :class:`Reference` per ``{name: row filter}``: the mean ``pretrain_accuracy`` of the matching rows (each
    model counted once per seed), with their ``pretrain_chance`` and ``pretrain_n_test``. Rows without pretraining
    fields (results written before they existed) give no reference."""
    out = []
    for name, match in names.items():
        models = {(r["seed"], r.get("arch")): r for r in rows if match(r) and "pretrain_accuracy" in r}
        if models:
            picked = list(models.values())
            out.append(Reference(name, sum(r["pretrain_accuracy"] for r in picked) / len(picked),
                                 picked[0]["pretrain_chance"], int(picked[0]["pretrain_n_test"])))
    return tuple(out)


@dataclass(frozen=True)
class Tally:
    """How many claims hold, fail and are inconclusive."""

    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, claims: Sequence[Claim]) -> Tally:
        return cls({s: sum(c.status == s for c in claims) for s in STATUSES})

    def __str__(self) -> str:
        return ", ".join(f"{self.counts.get(s, 0)} {s}" for s in STATUSES)
