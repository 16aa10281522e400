"""Leaderboards of many models scored on the same images and transform draws (``invmeter zoo``).

Submodules (imported on demand, so ``import invmeter.leaderboard`` stays cheap): :mod:`~invmeter.leaderboard.records`
(the row schema), :mod:`~invmeter.leaderboard.paired` (paired bootstrap comparisons, ranking) and
:mod:`~invmeter.leaderboard.board` (``leaderboard.md`` and ``leaderboard.html``). See docs/zoo.md.
"""
