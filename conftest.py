"""Collection: the optional integrations' modules (and their doctests) need their extras; skip them without."""

import importlib.util

collect_ignore = [f"invmeter/integrations/{name}.py" for name in ("torchmetrics", "lightning")
                  if importlib.util.find_spec(name) is None]
