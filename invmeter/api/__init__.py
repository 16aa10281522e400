"""The public API: scoring (the one boundary where strings and the user's objects become checked objects) and the
facades the command line's commands call."""

from invmeter.api import commands as commands
from invmeter.api.scoring import (
    make_transforms2d as make_transforms2d,
    resolve_data as resolve_data,
    resolve_model as resolve_model,
    resolve_transform as resolve_transform,
    score as score,
    sweep as sweep,
    sweep_specs as sweep_specs,
)
from invmeter.api.zoo import ZooTable as ZooTable, zoo as zoo
from invmeter.settings import ScoreSettings as ScoreSettings

__all__ = ["ScoreSettings", "ZooTable", "commands", "make_transforms2d", "resolve_data", "resolve_model",
           "resolve_transform", "score", "sweep", "sweep_specs", "zoo"]
