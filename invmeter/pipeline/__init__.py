"""One measurement: settings (:mod:`~invmeter.pipeline.settings`), strings and objects resolved once
(:mod:`~invmeter.pipeline.resolve`) into one plan (:mod:`~invmeter.pipeline.plan`, built by
:mod:`~invmeter.pipeline.prepare`), the pass over the pairs (:mod:`~invmeter.pipeline.extract`), the gradient pass
(:mod:`~invmeter.pipeline.gradient`) and the Report (:mod:`~invmeter.pipeline.measure`)."""
