"""Collection: the optional integrations' modules and the figure class (and their doctests) need their extras; skip
them without."""

import importlib.util

collect_ignore = [f"invmeter/integrations/{name}.py" for name in ("torchmetrics", "lightning")
                  if importlib.util.find_spec(name) is None]
if importlib.util.find_spec("matplotlib") is None:  # the plot extra
    collect_ignore.append("invmeter/report/figure.py")
