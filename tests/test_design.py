"""Experiment design: disjoint object and transform sets, D(O, T), T1⊕T2, T1∘T2 and nested sets."""

from __future__ import annotations

import numpy as np
import pytest

from invmeter.data import Transforms2D
from invmeter.data.design import (
    KIND_ORDER,
    compose,
    direct_sum,
    figure2_datasets,
    in_paper_order,
    make_dataset,
    nested_transforms,
    sample_object_sets,
    sample_transform_sets,
    sample_transform_sets_by_kind,
    tvo_draw,
)
from invmeter.errors import InvalidParameterError
from invmeter.transforms import PAPER_FAMILIES, get_family, list_transforms, parse_transform


@pytest.mark.parametrize("seed", range(5))
def test_object_sets_are_disjoint_seeded_draws(seed: int) -> None:
    o1, o2 = sample_object_sets((30, 30), seed=seed)
    assert len(o1) == len(set(o1)) == 30 and len(o2) == len(set(o2)) == 30
    assert not set(o1) & set(o2) and set(o1) | set(o2) <= set(range(61))
    assert sample_object_sets((30, 30), seed=seed) == (o1, o2)
    assert sample_object_sets((30, 30), seed=seed + 1) != (o1, o2)
    assert set(sample_object_sets((3,), seed=seed, pool=[100, 200, 300])[0]) == {100, 200, 300}


@pytest.mark.parametrize("seed", range(5))
def test_transform_sets_are_disjoint_and_in_paper_order(seed: int) -> None:
    t1, t2 = sample_transform_sets((3, 3), seed=seed)
    assert not set(t1.families) & set(t2.families) and set(t1.families) | set(t2.families) <= set(PAPER_FAMILIES)
    for spec in (t1, t2):
        kinds = [KIND_ORDER.index(get_family(f).kind) for f in spec.families]
        assert kinds == sorted(kinds)
        assert str(in_paper_order(spec)) == str(spec)
    assert sample_transform_sets((3, 3), seed=seed) == (t1, t2)
    (drawn,) = sample_transform_sets((8,), seed=seed, order="sampled")
    assert sorted(drawn.families) == sorted(PAPER_FAMILIES)


def test_transform_sets_by_kind_take_one_family_of_each_kind() -> None:
    t1, t2 = sample_transform_sets_by_kind(2, seed=0)
    assert [get_family(f).kind for f in t1.families] == list(KIND_ORDER) == [get_family(f).kind for f in t2.families]
    assert not set(t1.families) & set(t2.families)
    with pytest.raises(InvalidParameterError, match="need 2 corruption families but the pool has 1 \\(blur\\)"):
        sample_transform_sets_by_kind(2, seed=0, pool=PAPER_FAMILIES)
    assert len(sample_transform_sets_by_kind(3, seed=1, pool=list_transforms())) == 3


# The paper's code's lists (paper.md §1.5) under its own names, and what invmeter calls them
_CODE = (["scale", "translate", "v_flip", "h_flip", "rotate", "shear"],
         ["hue", "brightness", "grayscale", "posterize", "invert", "sharpen"],
         ["blur", "noise", "pixelate", "elastic", "erasing", "contrast"])
_OURS = {"translate": "translation", "v_flip": "vflip", "h_flip": "hflip", "rotate": "rotation"}


@pytest.mark.parametrize("config_seed", [59832, 113, 5902, 5483, 78, 494, 3405, 746, 36684, 605, 7])
def test_tvo_draw_is_the_paper_codes_draw(config_seed: int) -> None:
    # the reference: the code's own calls (rng.choice on its name lists, then 60 of its 61 objects), one generator
    rng = np.random.default_rng(config_seed)
    pairs = [rng.choice(names, 2, replace=False) for names in _CODE]
    objects = [int(i) for i in rng.choice(np.arange(61), 60, replace=False)]
    draw = tvo_draw(config_seed)
    assert draw.target == tuple(_OURS.get(str(p[0]), str(p[0])) for p in pairs)
    assert draw.disjoint == tuple(_OURS.get(str(p[1]), str(p[1])) for p in pairs)
    assert (list(draw.target_objects), list(draw.training_objects)) == (objects[:30], objects[30:])


def test_tvo_draw_knows_the_papers_runs_and_checks_its_pool() -> None:
    run0 = tvo_draw(59832)  # the paper's run 0 (paper.md §4.1)
    assert (run0.target, run0.disjoint) == (("translation", "invert", "pixelate"), ("rotation", "posterize", "erasing"))
    assert tvo_draw(113).disjoint == ("scale", "hue", "elastic")
    assert len(tvo_draw(5, n_classes=3).target_objects) == 3
    with pytest.raises(InvalidParameterError, match="needs 62 distinct objects but the pool has 61"):
        tvo_draw(0, n_classes=31)


def test_paper_order_puts_placement_last_among_geometric_steps() -> None:
    spec = in_paper_order(PAPER_FAMILIES)
    assert str(spec) == "scale+hflip+vflip+rotation+translation+color_jitter+sharpen+blur"
    assert str(in_paper_order(parse_transform("blur+rotation:45"))) == "rotation:45+blur"  # magnitudes are kept


def test_compose_and_nested_sets() -> None:
    t1, t2 = parse_transform("rotation+blur"), parse_transform("hflip")
    assert str(compose(t1, t2)) == "rotation+blur+hflip" and str(compose(t2, t1)) == "hflip+rotation+blur"
    chain = nested_transforms(parse_transform("+".join(PAPER_FAMILIES)))
    assert [len(t.steps) for t in chain] == list(range(1, 9))
    for small, large in zip(chain, chain[1:]):
        assert set(small.families) < set(large.families) and large.steps[: len(small.steps)] == small.steps


def test_datasets_for_the_figures() -> None:
    base = Transforms2D(image_size=16)
    o1, o2 = (0, 1, 2), (3, 4, 5)
    t1, t2 = parse_transform("rotation"), parse_transform("blur")
    sets = figure2_datasets(base, (o1, o2), (t1, t2))
    got = {name: (d.objects, str(d.transforms)) for name, d in sets.items()}
    assert got == {"all": (o1, "rotation"), "transforms": (o2, "rotation"), "objects": (o1, "blur"), "none": (o2, "blur")}
    assert all(d.image_size == 16 for d in sets.values())
    mixed = direct_sum(base, [t1, t2], objects=(0, 1, 2, 3, 4))
    assert [str(t) for t in mixed.class_transforms] == ["rotation"] * 3 + ["blur"] * 2
    assert make_dataset(mixed, o1, t2).class_transforms is None


def test_design_errors() -> None:
    with pytest.raises(InvalidParameterError, match="need 70 distinct objects but the pool has 61"):
        sample_object_sets((35, 35), seed=0)
    with pytest.raises(InvalidParameterError, match="need 9 distinct families but the pool has 8"):
        sample_transform_sets((5, 4), seed=0)
    with pytest.raises(InvalidParameterError, match="repeats a family"):
        sample_transform_sets((1,), seed=0, pool=["rotation", "rotation:45"])
    with pytest.raises(InvalidParameterError, match="'order' parameter"):
        sample_transform_sets((1,), seed=0, order="random")
    with pytest.raises(InvalidParameterError, match="between 1 and 2 transform specs"):
        direct_sum(Transforms2D(objects=(0, 1)), [None, None, None])
