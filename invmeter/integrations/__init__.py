"""Optional integrations, each behind its extra and imported explicitly (never by ``import invmeter``):
:mod:`invmeter.integrations.torchmetrics` (``pip install 'invmeter[torchmetrics]'``) and
:mod:`invmeter.integrations.lightning` (``pip install 'invmeter[lightning]'``)."""
