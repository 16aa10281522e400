"""Experiment design on Transforms-2D: seeded disjoint object sets O1, O2, ... and transform sets T1, T2, ...;
datasets D(O, T); T1⊕T2 (different transforms per class group); T1∘T2 (concatenated transforms); nested
transform sets T1 ⊂ T2 ⊂ ... (the paper's Figure 8).

Every sampler takes ``seed`` and uses its own ``numpy.random.default_rng(seed)``, as the paper's code does.
Transform sets are composed in the paper's order unless asked otherwise (:func:`in_paper_order`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from invmeter._utils.validation import check_positive_int
from invmeter.data.transforms2d import Transforms2D
from invmeter.errors import InvalidParameterError
from invmeter.transforms import PAPER_FAMILIES, TransformSpec, TransformStep, list_transforms, parse_transform

__all__ = [
    "KIND_ORDER",
    "PAPER_OBJECT_COUNT",
    "PAPER_ORDER",
    "TMLR_CATALOGUE",
    "TMLR_CODE_LISTS",
    "TMLR_KINDS",
    "TvODraw",
    "compose",
    "direct_sum",
    "figure2_datasets",
    "in_paper_order",
    "make_dataset",
    "nested_transforms",
    "sample_object_sets",
    "sample_transform_sets",
    "sample_transform_sets_by_kind",
    "tvo_draw",
]

PAPER_OBJECT_COUNT = 61  # foreground objects in the paper's base data (SI-score foregrounds)
KIND_ORDER = ("geometric", "photometric", "corruption")
PAPER_ORDER = (
    # geometric: the object is transformed about its centre, then placed (translation last)
    "scale", "hflip", "vflip", "rotation", "shear", "translation",
    # photometric, then corruption (the paper's category order)
    "color_jitter", "hue", "brightness", "contrast", "grayscale", "posterize", "invert", "sharpen",
    "blur", "noise", "pixelate", "elastic", "erasing",
)
"""Composition order of a transform set: geometric -> photometric -> corruption (paper.md §1.5, §4.1)."""
TMLR_CODE_LISTS = (
    ("scale", "translation", "vflip", "hflip", "rotation", "shear"),
    ("hue", "brightness", "grayscale", "posterize", "invert", "sharpen"),
    ("blur", "noise", "pixelate", "elastic", "erasing", "contrast"),
)
"""The paper's code's ``GEOMETRIC_TRANSFORMS``, ``PHOTOMETRIC_TRANSFORMS`` and ``CORRUPTION_TRANSFORMS`` lists, in
their order, under invmeter's family names (paper.md §1.5), so that a draw from them is the code's own draw for the
same seed."""
TMLR_CATALOGUE = tuple(f for names in TMLR_CODE_LISTS for f in names)
"""The paper's code's catalogue of 18 transforms (paper.md §1.5) as invmeter's families, in its order.
``color_jitter`` (the ICLR text's family) is not in it: the code splits it
into ``hue``, ``brightness`` and ``contrast``."""
TMLR_KINDS = {"contrast": "corruption"}
"""Where the paper's code files a family under another category than invmeter's registry (its corruption list has
``contrast``)."""


def _steps(transforms: TransformSpec | Iterable[str | TransformStep]) -> list[TransformStep]:
    if isinstance(transforms, TransformSpec):
        return list(transforms.steps)
    steps: list[TransformStep] = []
    for item in transforms:
        steps += [item] if isinstance(item, TransformStep) else list(parse_transform(item).steps)
    return steps


def in_paper_order(transforms: TransformSpec | Iterable[str | TransformStep]) -> TransformSpec:
    """The same steps composed in :data:`PAPER_ORDER` (families not listed go last within their kind).

    Example:
        >>> str(in_paper_order(["blur", "translation", "color_jitter", "scale"]))
        'scale+translation+color_jitter+blur'
    """
    def rank(step: TransformStep) -> tuple[int, int]:
        kind = KIND_ORDER.index(step.info.kind) if step.info.kind in KIND_ORDER else len(KIND_ORDER)
        return kind, PAPER_ORDER.index(step.family) if step.family in PAPER_ORDER else len(PAPER_ORDER)

    return TransformSpec(tuple(sorted(_steps(transforms), key=rank)))


def compose(*specs: TransformSpec) -> TransformSpec:
    """T1∘T2: the transforms of ``specs`` applied one after the other, in the order given.

    Example:
        >>> str(compose(parse_transform("rotation"), parse_transform("blur+hflip")))
        'rotation+blur+hflip'
    """
    if not specs:
        raise InvalidParameterError("compose() needs at least one transform spec.")
    return TransformSpec(tuple(step for spec in specs for step in spec.steps))


def nested_transforms(spec: TransformSpec) -> list[TransformSpec]:
    """T1 ⊂ T2 ⊂ ... ⊂ Tm: the first k steps of ``spec`` for k = 1..m (Figure 8).

    Example:
        >>> [str(t) for t in nested_transforms(parse_transform("rotation+blur+hflip"))]
        ['rotation', 'rotation+blur', 'rotation+blur+hflip']
    """
    return [TransformSpec(spec.steps[:k]) for k in range(1, len(spec.steps) + 1)]


def _check_sizes(sizes: Sequence[int], what: str) -> list[int]:
    if not sizes:
        raise InvalidParameterError(f"Give at least one {what} set size, e.g. sizes=(30, 30).")
    return [check_positive_int(f"{what} set size", s) for s in sizes]


def sample_object_sets(
    sizes: Sequence[int], *, seed: int, pool: int | Sequence[int] = PAPER_OBJECT_COUNT
) -> tuple[tuple[int, ...], ...]:
    """Disjoint object sets (O1, O2, ...) of the given sizes, drawn without replacement from ``pool``.

    Args:
        sizes: Objects per set, e.g. ``(30, 30)`` for the paper's target and disjoint classes.
        seed: Seeds the draw.
        pool: Object ids to draw from, or their number n (ids ``0..n-1``; default: the paper's 61).

    Example:
        >>> o1, o2 = sample_object_sets((3, 3), seed=0)
        >>> len(o1), len(o2), set(o1) & set(o2)
        (3, 3, set())
    """
    ids = list(range(pool)) if isinstance(pool, int) else [int(k) for k in pool]
    counts = _check_sizes(sizes, "object")
    if len(set(ids)) != len(ids):
        raise InvalidParameterError("The object pool has repeated ids; give distinct object ids.")
    if sum(counts) > len(ids):
        raise InvalidParameterError(
            f"Object sets of sizes {counts} need {sum(counts)} distinct objects but the pool has {len(ids)}."
        )
    drawn = np.random.default_rng(seed).choice(len(ids), size=sum(counts), replace=False)
    bounds = np.cumsum([0, *counts])
    return tuple(tuple(ids[i] for i in drawn[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))


def _pool_steps(pool: Sequence[str]) -> list[TransformStep]:
    steps = _steps(pool)
    families = [s.family for s in steps]
    if len(set(families)) != len(families):
        raise InvalidParameterError(f"The transform pool repeats a family ({', '.join(families)}); list each once.")
    return steps


def sample_transform_sets(
    sizes: Sequence[int], *, seed: int, pool: Sequence[str] = PAPER_FAMILIES, order: str = "paper"
) -> tuple[TransformSpec, ...]:
    """Disjoint transform sets (T1, T2, ...) of the given sizes, drawn without replacement from ``pool``.

    Args:
        sizes: Families per set, e.g. ``(3, 3)``; ``(8,)`` with ``order="sampled"`` gives Figure 8's ordering.
        seed: Seeds the draw.
        pool: Transform specs to draw from, one family each (default: the paper's 8; ``list_transforms()`` for all).
        order: ``"paper"``: each set composed in :data:`PAPER_ORDER`; ``"sampled"``: in the order drawn.

    Example:
        >>> t1, t2 = sample_transform_sets((2, 2), seed=0)
        >>> set(t1.families) & set(t2.families)
        set()
    """
    if order not in ("paper", "sampled"):
        raise InvalidParameterError(f"The 'order' parameter must be 'paper' or 'sampled'. Got {order!r}.")
    steps = _pool_steps(pool)
    counts = _check_sizes(sizes, "transform")
    if sum(counts) > len(steps):
        raise InvalidParameterError(
            f"Transform sets of sizes {counts} need {sum(counts)} distinct families but the pool has {len(steps)}."
        )
    drawn = np.random.default_rng(seed).choice(len(steps), size=sum(counts), replace=False)
    bounds = np.cumsum([0, *counts])
    sets = [TransformSpec(tuple(steps[i] for i in drawn[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]
    return tuple(in_paper_order(s) if order == "paper" else s for s in sets)


def sample_transform_sets_by_kind(
    n_sets: int, *, seed: int, pool: Sequence[str] | None = None, kinds: Mapping[str, str] | None = None
) -> tuple[TransformSpec, ...]:
    """Disjoint transform sets with one family of each kind (geometric, photometric, corruption) each: the
    paper's Figure 2 design (for each kind, draw ``n_sets`` distinct families; set i gets the i-th), composed in
    that kind order. With ``pool=TMLR_CATALOGUE, kinds=TMLR_KINDS`` it is the paper's code's draw (paper.md §4.1).

    Args:
        n_sets: Number of sets (the paper: 2, target and disjoint).
        seed: Seeds the draw.
        pool: Transform specs to draw from (default: every registered family).
        kinds: ``{family: kind}`` where a family's kind differs from the registry's (e.g. :data:`TMLR_KINDS`).

    Example:
        >>> t1, t2 = sample_transform_sets_by_kind(2, seed=0)
        >>> len(t1.steps), set(t1.families) & set(t2.families)
        (3, set())
    """
    check_positive_int("n_sets", n_sets)
    steps = _pool_steps(list_transforms() if pool is None else pool)
    rng = np.random.default_rng(seed)
    picks: list[list[TransformStep]] = [[] for _ in range(n_sets)]
    kind_of = {**{s.family: s.info.kind for s in steps}, **(kinds or {})}
    for kind in KIND_ORDER:
        candidates = [s for s in steps if kind_of[s.family] == kind]
        if not candidates:
            continue
        if len(candidates) < n_sets:
            names = ", ".join(s.family for s in candidates)
            raise InvalidParameterError(
                f"{n_sets} disjoint sets need {n_sets} {kind} families but the pool has {len(candidates)} ({names}); "
                "use a larger pool, e.g. pool=list_transforms()."
            )
        for i, j in enumerate(rng.choice(len(candidates), size=n_sets, replace=False)):
            picks[i].append(candidates[j])
    return tuple(TransformSpec(tuple(p)) for p in picks)


def make_dataset(base: Transforms2D, objects: Sequence[int], transforms: TransformSpec | None) -> Transforms2D:
    """D(objects, transforms): ``base`` (sources, image size, object scale) with these objects and transforms."""
    return replace(base, objects=tuple(objects), transforms=transforms, class_transforms=None)


def direct_sum(
    base: Transforms2D, specs: Sequence[TransformSpec | None], objects: Sequence[int] | None = None
) -> Transforms2D:
    """T1⊕T2⊕...: the classes (``objects``, default ``base.objects``) split into ``len(specs)`` contiguous groups
    of (almost) equal size; group g is transformed by ``specs[g]`` only (Figure 5).

    Example:
        >>> ds = direct_sum(Transforms2D(objects=(0, 1, 2, 3)), [parse_transform("rotation"), parse_transform("blur")])
        >>> [str(t) for t in ds.class_transforms]
        ['rotation', 'rotation', 'blur', 'blur']
    """
    classes = tuple(base.objects if objects is None else objects)
    if not specs or len(specs) > len(classes):
        raise InvalidParameterError(f"direct_sum needs between 1 and {len(classes)} transform specs; got {len(specs)}.")
    per_class = tuple(specs[k * len(specs) // len(classes)] for k in range(len(classes)))
    return replace(base, objects=classes, transforms=None, class_transforms=per_class)


def figure2_datasets(
    base: Transforms2D, objects: tuple[Sequence[int], Sequence[int]], transforms: tuple[TransformSpec, TransformSpec]
) -> dict[str, Transforms2D]:
    """The paper's Figure 2 pretraining datasets for a target D(O1, T1), from ``objects = (O1, O2)`` and
    ``transforms = (T1, T2)``: ``all`` = D(O1, T1) (the target itself), ``transforms`` = D(O2, T1) (same
    transforms, other objects), ``objects`` = D(O1, T2), ``none`` = D(O2, T2)."""
    (o1, o2), (t1, t2) = objects, transforms
    return {
        "all": make_dataset(base, o1, t1),
        "transforms": make_dataset(base, o2, t1),
        "objects": make_dataset(base, o1, t2),
        "none": make_dataset(base, o2, t2),
    }


@dataclass(frozen=True)
class TvODraw:
    """One run's structure in the paper's "transforms vs other factors" experiment (its Figure 2 analogue).

    Attributes:
        config_seed: The seed drawn from.
        target: The target task's transforms (one family per category, in category order).
        disjoint: The other transforms (disjoint from ``target``, one per category).
        target_objects: The target task's classes (object ids); ``training_objects``: the 30 others.
    """

    config_seed: int
    target: tuple[str, ...]
    disjoint: tuple[str, ...]
    target_objects: tuple[int, ...]
    training_objects: tuple[int, ...]


def tvo_draw(config_seed: int, *, n_classes: int = 30, pool: int = PAPER_OBJECT_COUNT) -> TvODraw:
    """The transforms and classes the paper's code draws for a run of its Figure 2 analogue (paper.md §4.1), draw for
    draw: one ``numpy.random.default_rng(config_seed)``; for each of :data:`TMLR_CODE_LISTS` two distinct families
    (the first for the target, the second for the disjoint set); then ``2 n_classes`` distinct objects of ``pool``
    (the first ``n_classes`` are the target's). With the paper's config seeds it gives the paper's own runs.

    Example:
        >>> draw = tvo_draw(59832)  # the paper's run 0
        >>> draw.target, draw.disjoint
        (('translation', 'invert', 'pixelate'), ('rotation', 'posterize', 'erasing'))
    """
    check_positive_int("n_classes", n_classes)
    if 2 * n_classes > pool:
        raise InvalidParameterError(f"The draw needs {2 * n_classes} distinct objects but the pool has {pool}.")
    rng = np.random.default_rng(config_seed)
    pairs = [[names[i] for i in rng.choice(len(names), 2, replace=False)] for names in TMLR_CODE_LISTS]
    objects = [int(i) for i in rng.choice(pool, 2 * n_classes, replace=False)]
    return TvODraw(int(config_seed), tuple(p[0] for p in pairs), tuple(p[1] for p in pairs),
                   tuple(objects[:n_classes]), tuple(objects[n_classes:]))
