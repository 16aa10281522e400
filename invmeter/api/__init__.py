"""The public facades: ``score``, ``sweep``, ``score_many``, ``zoo``, ``select`` and the commands the command line
calls; strings and the user's objects are resolved here, once, into a plan (:mod:`invmeter.pipeline.prepare`)."""

from invmeter.api import commands as commands
from invmeter.api.scoring import score as score, score_many as score_many, sweep as sweep
from invmeter.leaderboard.zoo import ZooTable as ZooTable, zoo as zoo
from invmeter.pipeline.resolve import (
    make_transforms2d as make_transforms2d,
    resolve_data as resolve_data,
    resolve_model as resolve_model,
    resolve_transform as resolve_transform,
    sweep_specs as sweep_specs,
)
from invmeter.pipeline.settings import ScoreSettings as ScoreSettings
from invmeter.selection.outputs import Selection as Selection
from invmeter.selection.run import select as select

__all__ = ["ScoreSettings", "Selection", "ZooTable", "commands", "make_transforms2d", "resolve_data", "resolve_model",
           "resolve_transform", "score", "score_many", "select", "sweep", "sweep_specs", "zoo"]
