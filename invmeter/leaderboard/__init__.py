"""Many models on the same pairs, ranked: the zoo's run (:mod:`~invmeter.leaderboard.zoo`, ``invmeter.zoo``), the
row schema (:mod:`~invmeter.leaderboard.records`), paired bootstrap comparisons and ranking
(:mod:`~invmeter.leaderboard.ranking`) and the board (:mod:`~invmeter.leaderboard.board`: ``leaderboard.md`` and
``leaderboard.html``). Submodules are imported on demand. See docs/zoo.md.

The folder is named for the part, never like a public function (``invmeter.zoo`` is the function in
:mod:`invmeter.leaderboard.zoo`): a subpackage named ``zoo`` would replace the function on the package once imported.
"""
