"""The model zoo: many models scored on the same images and transform draws, ranked on a leaderboard.

Submodules (imported on demand, so ``import invmeter.zoo`` stays cheap): :mod:`invmeter.zoo.records` (the row
schema), :mod:`invmeter.zoo.paired` (paired bootstrap comparisons, ranking), :mod:`invmeter.zoo.board`
(``leaderboard.md`` and ``leaderboard.html``). See docs/zoo.md.
"""
