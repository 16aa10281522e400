"""The adversarial suite's zoo rows (see tests/test_adversarial.py) for its input surfaces since issue 27: models files,
model objects and named entries, exit statuses (``--allow-failures``, nothing ranked), the settings checked before
the first model, and the lock on the output folder. Models files are fixtures (tests/adversarial_fixtures.py)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import adversarial_models as odd
import torch
from adversarial_support import Case, Correct, Error, Fixtures, Outcome, users
from filelock import FileLock
from torch import nn

import invmeter
from invmeter.leaderboard.zoo import LOCK_FILE, ZooModel

__all__ = ["ZOO_CASES"]

TINY = ("-t", "hflip", "--image-size", "16", "--classes", "2", "--n-images", "8", "--bootstrap", "0", "-q")
KW: dict[str, Any] = {"image_size": 16, "n_classes": 2, "n_images": 8, "n_boot": 0}


def zoo(*args: str) -> tuple[str, ...]:
    return ("zoo", *args, "--out", "{out}/z")


def _rows(o: Outcome) -> dict[str, dict[str, str]]:
    return {r["model"]: r for r in csv.DictReader((o.out / "z" / "results.csv").open())}


def _models_file_rows(o: Outcome) -> None:
    rows = _rows(o)
    assert set(rows) == {"feat", "feat at random init"}, rows
    assert rows["feat"]["weights"] == "from-factory" and rows["feat"]["learned_invariance"] != ""
    assert rows["feat at random init"]["weights"] == "random-init"
    md = (o.out / "z" / "leaderboard.md").read_text()
    assert "| baseline | [feat at random init](reports/" in md and "| 1 | [feat](reports/" in md


def _allowed(o: Outcome) -> None:
    rows = _rows(o)
    assert rows["adversarial_models:raises"]["status"] == "failed" and "FAILED adversarial_models:raises" in o.output


def _locked(fx: Fixtures, call: Callable[[], Any]) -> Any:
    """``call`` while another run holds the lock on ``fx.out / "z"``."""
    (fx.out / "z").mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(fx.out / "z" / LOCK_FILE))
    with lock:
        return call()


def _named_objects(fx: Fixtures) -> Any:
    net = users(odd.features)
    return invmeter.zoo({"mine": net, "mine at random init": ZooModel("r", net, weights="random")}, ["hflip"],
                        out=fx.out / "z", **KW)


def _check_named_objects(o: Outcome) -> None:
    rows = {r["model"]: r for r in o.value}
    assert rows["mine"]["weights"] == "as-given" and rows["mine at random init"]["weights"] == "random-init"
    assert rows["mine"]["meta"]["architecture"] == rows["mine at random init"]["meta"]["architecture"]
    assert o.value.ranked == 1 and "learned_invariance" in rows["mine at random init"]["metrics"]  # ≈ 0: a baseline


_CLI = [
    Case("zoo-models-file", zoo("--models", "{zoo_models}", *TINY), Correct(_models_file_rows)),
    Case("zoo-models-file-missing", zoo("--models", "{out}/nowhere.toml"), Error(r"models file '.*nowhere\.toml' does "
                                                                                  r"not exist")),
    Case("zoo-models-file-bad-toml", zoo("--models", "{zoo_models_bad_toml}"), Error(r"bad_toml\.toml: not valid TOML")),
    Case("zoo-models-file-unknown-key", zoo("--models", "{zoo_models_unknown_key}"),
         Error(r"model 1: unknown key 'wieghts'; the keys are")),
    Case("zoo-models-file-arch-without-weights", zoo("--models", "{zoo_models_arch_no_weights}"),
         Error(r"model 1: an 'arch' needs weights = 'FILE'")),
    Case("zoo-models-file-weights-missing", zoo("--models", "{zoo_models_missing_weights}"),
         Error(r"Weights file 'nowhere\.pt' does not exist")),
    Case("zoo-models-file-name-clash", zoo("--models", "{zoo_models_name_clash}"),
         Error(r"Two different zoo models are named 'a'")),
    Case("zoo-models-file-empty", zoo("--models", "{zoo_models_empty}"), Error(r"one \[\[model\]\] table per model")),
    Case("zoo-pattern-empty", zoo(""), Error(r"A model pattern must be a non-empty string")),
    Case("zoo-out-empty", ("zoo", "adversarial_models:features", "--out", ""), Error(r"output folder is empty")),
    Case("late-zoo-transform-twice", zoo("adversarial_models:features", "-t", "hflip", "-t", "hflip"),
         Error(r"The transform 'hflip' is given twice")),
    Case("late-zoo-default-rank-not-computed", zoo("adversarial_models:features", "--metrics", "cka"),
         Error(r"ranks by invariance by default.*--metrics leaves it out")),
    Case("late-zoo-rank-not-computed", zoo("adversarial_models:features", "--rank", "cka"),
         Error(r"The rank metric cka is not computed on every transform")),
    Case("zoo-rank-gain-without-baseline", zoo("adversarial_models:features", "--rank", "learned_invariance",
                                               "--baseline", "none"),
         Error(r"learned_invariance is not computed .*needs the architecture's random initialisations")),
    Case("zoo-baseline-unknown", zoo("adversarial_models:features", "--baseline", "random"),
         Error(r"'baseline' .*random-init.*Got 'random'")),
    Case("zoo-baseline-inits-zero", zoo("adversarial_models:features", "--baseline-inits", "0"),
         Error(r"'baseline_inits' parameter must be an integer in \[1, 64\]\. Got 0")),
    Case("zoo-weights-for-a-factory", zoo("adversarial_models:features", "--weights", "random"),
         Error(r"--weights does not apply to the factory")),
    Case("zoo-a-row-failed", zoo("adversarial_models:raises", "adversarial_models:features", *TINY),
         Error(r"1 of 2 rows failed .*pass --allow-failures", before=None)),
    Case("zoo-allow-failures", zoo("adversarial_models:raises", "adversarial_models:features", *TINY,
                                   "--allow-failures"), Correct(_allowed)),
    Case("zoo-nothing-ranked", zoo("adversarial_models:raises", *TINY, "--allow-failures"),
         Error(r"Nothing was ranked .*no leaderboard was written", before=None)),
]

_API = [
    Case("api-zoo-locked", lambda fx: _locked(fx, lambda: invmeter.zoo(["adversarial_models:features"], ["hflip"],
                                                                        out=fx.out / "z", **KW)),
         Error(r"Another invmeter zoo is writing to .*wait for it to finish, or give another --out", before=None)),
    Case("api-zoo-named-objects", _named_objects, Correct(_check_named_objects)),
    Case("api-zoo-object-not-a-model", lambda fx: invmeter.zoo({"x": 3}, ["hflip"], out=fx.out / "z"),
         Error(r"The zoo model 'x' must be a spec string, an nn\.Module or a ModelHandle\. Got int")),
    Case("api-zoo-object-name-empty", lambda fx: invmeter.zoo({" ": users(odd.features)}, ["hflip"], out=fx.out / "z"),
         Error(r"A zoo model's name must be a non-empty string")),
    Case("api-zoo-unnamed-objects-clash", lambda fx: invmeter.zoo(_two_features(), ["hflip"], out=fx.out / "z"),
         Error(r"Two different zoo models are named 'Features'; give each its own name")),
    Case("api-zoo-object-with-weights",
         lambda fx: invmeter.zoo([ZooModel("m", users(odd.features), weights="pretrained")], ["hflip"],
                                 out=fx.out / "z"),
         Error(r"a module brings its own weights")),
    Case("api-zoo-object-cannot-reinit",
         lambda fx: invmeter.zoo({"p": users(_Scale)}, ["hflip"], out=fx.out / "z", image_size=16, n_classes=2,
                                 n_images=8, n_boot=0, metrics="invariance"),
         Correct(lambda o: _reason_is(o, "p", "Cannot re-initialise the module '_Scale'"))),
    Case("api-zoo-out-empty", lambda fx: invmeter.zoo(["adversarial_models:features"], out=""),
         Error(r"output folder is empty")),
]


def _two_features() -> list[nn.Module]:
    """Two modules of one class with different weights (so both are named after the class)."""
    a, b = users(odd.features), users(odd.features)
    with torch.no_grad():
        next(b.parameters()).add_(1.0)
    return [a, b]


class _Scale(nn.Module):
    """A learnable per-channel scale held as a bare parameter: no reset_parameters() re-initialises it."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(nn.init.uniform_(torch.empty(3)))

    def forward(self, x: Any) -> Any:
        return (x * self.scale.view(1, 3, 1, 1)).mean(dim=(2, 3))


def _reason_is(o: Outcome, model: str, text: str) -> None:
    """The model is scored, and its gain is undefined with ``text`` (its random-init copy cannot be built)."""
    row = next(r for r in o.value if r["model"] == model)
    gain = row["metrics"]["learned_invariance"]
    assert row["status"] == "ok" and gain["value"] is None and text in gain["reason"], json.dumps(gain)


ZOO_CASES: list[Case] = [*_CLI, *(replace(case, api="zoo()") for case in _API)]
