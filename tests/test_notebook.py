"""invmeter in a real Jupyter kernel (nbclient + ipykernel, offline): a report and a sweep display as HTML tables,
figures as images, the progress bar shows, and the user's matplotlib backend stays inline. Also the display
methods, figures without pyplot and the progress bar's choice of where to draw, in this process."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

import invmeter
from invmeter._utils.progress import Progress, in_notebook

matplotlib = pytest.importorskip("matplotlib")
SCORE = ('pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())\n'
         'images = torch.rand(24, 3, 16, 16, generator=torch.Generator().manual_seed(0))\n'
         'options = dict(data=images, image_size=16, mean=(0.5,), std=(0.5,), n_boot=20, progress=True)\n')
CELLS = [
    "import matplotlib\nbackend = matplotlib.get_backend()\nprint(backend)",
    "import torch\nimport invmeter\n" + SCORE + "report = invmeter.score(pool, 'hflip', **options)\nreport",
    "report.figure()",
    "sweep = invmeter.sweep(pool, 'rotation', [0, 90], **options)\nsweep",
    "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()\nprint(matplotlib.get_backend())",
]


def _run_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """Execute CELLS in a fresh kernel of this Python (its own kernel spec, ahead of any installed one)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    spec = tmp_path / "jupyter" / "kernels" / "invmeter-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                                           "{connection_file}"], "language": "python",
                                                  "display_name": "invmeter test"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # a user's notebook: ipykernel's inline default
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path / "cache"))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="invmeter-test",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    (tmp_path / "executed.ipynb").write_text(nbformat.writes(notebook))  # to read when the test fails
    return [cell.outputs for cell in notebook.cells]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")  # jupyter_client's event-loop notes
def test_a_notebook_shows_tables_figures_and_progress_and_keeps_its_backend(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = _run_notebook(tmp_path, monkeypatch)
    assert not [o for cell in outputs for o in cell if o["output_type"] == "error"]
    (backend,) = [o["text"].strip() for o in outputs[0] if o.get("name") == "stdout"]
    assert "inline" in backend

    def result(cell: list[dict[str, Any]]) -> dict[str, str]:
        (out,) = [o for o in cell if o["output_type"] == "execute_result"]
        return out["data"]

    html = result(outputs[1])["text/html"]
    assert "<table>" in html and "<td>invariance</td>" in html and "<td>1.000</td>" in html  # hflip-invariant pool
    progress = "".join(o["text"] for o in outputs[1] if o.get("name") == "stderr")
    assert "extracting features" in progress and "TqdmWarning" not in progress  # tqdm.auto's bar, no warning
    assert result(outputs[2])["image/png"]  # the figure, shown without pyplot
    sweep = result(outputs[3])["text/html"]
    assert "<th>magnitude</th>" in sweep and "<td>90</td>" in sweep  # one row per magnitude
    shown = [o for o in outputs[4] if o["output_type"] == "display_data"]
    assert shown and "image/png" in shown[0]["data"]  # the user's next plt.show() still draws inline
    assert [o["text"].strip() for o in outputs[4] if o.get("name") == "stdout"] == [backend]


def _tiny_reports() -> tuple[invmeter.Report, Any]:
    pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    images = torch.rand(20, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    options = {"data": images, "image_size": 16, "mean": (0.5,), "std": (0.5,), "n_boot": 20}
    return invmeter.score(pool, "hflip", seeds=[0, 1], **options), invmeter.sweep(pool, "rotation", [0, 90], **options)


def test_reports_sweeps_and_zoo_tables_display_as_html_and_markdown() -> None:
    from invmeter.api import ZooTable
    from invmeter.report import Sweep

    report, sweep = _tiny_reports()
    html, markdown = report._repr_html_(), report._repr_markdown_()
    for name, m in report.metrics.items():
        cells = [name, f"{m.value:.3f}", f"[{m.ci95[0]:.3f}, {m.ci95[1]:.3f}]"]
        assert "".join(f"<td>{c}</td>" for c in cells) in html
        assert "| " + " | ".join(cells) + " |" in markdown
    assert "<th>mean ± std (2 seeds)</th>" in html and "transform  hflip" in html
    assert "tensor (20 images)" in html  # unlabelled images: no class count, no size to show
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert pretty.pretty(report) == report.to_table() and pretty.pretty(sweep) == sweep.to_table()  # IPython's text
    assert isinstance(sweep, Sweep) and isinstance(sweep, list) and [r.magnitude for r in sweep] == [0.0, 90.0]
    assert sweep._repr_html_().count("<tr>") == 3 and "| 90 |" in sweep._repr_markdown_()  # header + 2 magnitudes
    assert json.loads(sweep.to_json())["sweep"][1]["magnitude"] == 90.0 and "verdict" in sweep.to_table()
    rows = ZooTable([
        {"model": "a<b>", "weights": "random-init", "transform": "hflip", "status": "ok", "reason": None,
         "metrics": {"invariance": {"value": 0.5, "ci95": [0.25, 0.75]}}},
        {"model": "c", "weights": "random-init", "transform": "hflip", "status": "failed", "reason": "out of memory"}])
    html = rows._repr_html_()
    assert "<td>a&lt;b&gt;</td>" in html and "<td>0.500 [0.250, 0.750]</td>" in html  # escaped, with its interval
    assert "<td>failed: out of memory</td>" in html
    assert "| c | random-init | hflip | failed: out of memory |  |" in rows._repr_markdown_()


def test_figures_are_drawn_without_pyplot_or_a_backend_change(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from invmeter.report.curves import history_figure, plot_history
    from invmeter.report.plots import plot_reports

    report, sweep = _tiny_reports()
    backend, open_figures = matplotlib.get_backend(), plt.get_fignums()
    history = [{"epoch": 1, "val_accuracy": 0.5, "invariance/rotation": 0.2, "l2_ratio/rotation": 1.5}]
    figures = [report.figure(), sweep.figure(), history_figure(history)]
    for fig in figures:
        png = fig._repr_png_()
        assert png.startswith(b"\x89PNG")  # what a notebook shows
    assert plot_reports(sweep, tmp_path / "sweep.svg").read_text().startswith("<?xml")
    assert plot_history([{"epoch": 1, "val_accuracy": 0.5}], tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == backend and plt.get_fignums() == open_figures
    source = "".join(p.read_text() for p in Path(invmeter.__file__).parent.rglob("*.py"))
    assert "matplotlib.use(" not in source and "import matplotlib.pyplot" not in source  # one helper: subplots()


def test_progress_draws_on_a_terminal_or_in_a_notebook_and_is_silent_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stream(io.StringIO):
        def __init__(self, tty: bool) -> None:
            super().__init__()
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    class Shell:
        config: ClassVar[dict[str, dict[str, str]]] = {"IPKernelApp": {}}

    class IPython:
        shell: Shell | None = None

        @classmethod
        def get_ipython(cls) -> Shell | None:
            return cls.shell

    monkeypatch.setitem(sys.modules, "IPython", IPython)
    for tty, shell, drawn in ((False, None, False), (True, None, True), (False, Shell(), True)):
        IPython.shell = shell
        stderr = Stream(tty)
        monkeypatch.setattr(sys, "stderr", stderr)
        assert in_notebook() is (shell is not None)
        with Progress(10, "extracting features") as bar:
            bar.update(10)
        assert ("extracting features" in stderr.getvalue()) is drawn
