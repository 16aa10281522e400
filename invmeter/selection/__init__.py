"""Which model will transfer best to the user's labelled data, and why: ``invmeter.select`` scores every candidate
with the transferability estimators (:mod:`invmeter.metrics.transferability`, a linear probe) and with invariance to
the target's nuisance transforms, ranks them by one documented rule (:mod:`~invmeter.selection.rule`) with each
model's reasons, checks every estimator against fine-tuning when asked (:mod:`~invmeter.selection.evaluate`) and
writes CSV, JSON and a board (:mod:`~invmeter.selection.outputs`). See docs/select.md.

The folder is named for the part, never like a public function: ``invmeter.select`` is the function in
:mod:`invmeter.selection.run`.
"""
