"""The adversarial suite's rows for issue 24 (and issue 25's weights rows): a report never records what did not
happen. Each silent case of the issue is a named row (``silent-24-...``, ``silent-25-...``): named weights that
cannot be had, weights of another architecture, damaged hub-cache files, a glob's tags without weights in the zoo,
preprocessing records on rendered scenes, checkpoints without recorded preprocessing, and the one definition of
``paired_distance_ratio``. Offline as the whole suite (``HF_HUB_OFFLINE=1``, an empty torch hub under the suite's
cache)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from adversarial_support import Case, Correct, Error, Fixtures, Outcome, Warns, users

import invmeter

__all__ = ["RECORD_CASES"]

TINY = ("--image-size", "16", "--classes", "2", "--n-images", "8", "--bootstrap", "0", "-q")
KW: dict[str, Any] = {"image_size": 16, "n_classes": 2, "n_images": 8, "n_boot": 0}
RESNET18_V1 = "resnet18-f37072fd.pth"  # the file torch.hub keeps ResNet18_Weights.IMAGENET1K_V1 in


def _report(o: Outcome) -> dict[str, Any]:
    return o.report()


@contextmanager
def _damaged_torch_hub() -> Iterator[Path]:
    """A damaged ResNet-18 weights file in the suite's torch hub cache, removed afterwards (other rows expect an
    empty cache)."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_V1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x80\x02 half a download")
    try:
        yield path
    finally:
        path.unlink()


@contextmanager
def _damaged_hf_cache(fx: Fixtures) -> Iterator[Path]:
    """A Hugging Face cache (beside the rows' folders: set up, not written by the row) holding a damaged file for
    timm's test_resnet weights."""
    import huggingface_hub.constants as hf

    folder = fx.root / "damaged-hf" / "models--timm--test_resnet.r160_in1k"
    (folder / "snapshots" / "abc").mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text("abc")
    (folder / "snapshots" / "abc" / "model.safetensors").write_bytes(b"not safetensors")
    before, hf.HF_HUB_CACHE = hf.HF_HUB_CACHE, str(fx.root / "damaged-hf")
    try:
        yield folder / "snapshots" / "abc" / "model.safetensors"
    finally:
        hf.HF_HUB_CACHE = before


def _with(context: Callable[..., Any], call: Callable[[], Any], *args: Any) -> Any:
    with context(*args):
        return call()


def _zoo_rows(fx: Fixtures, patterns: list[str], **options: Any) -> list[dict[str, Any]]:
    return list(invmeter.zoo(patterns, ["hflip"], out=fx.out / "zoo", image_size=32, n_images=12, n_classes=3,
                             n_boot=0, **options))


def _rows_are(expected: list[tuple[str, str, str]]) -> Callable[[Outcome], None]:
    def check(o: Outcome) -> None:
        got = [(r["model"], r["weights"], r["status"]) for r in o.value]
        assert got == expected, got
    return check


def _rendered_record(o: Outcome) -> None:
    prep = _report(o)["model"]["preprocessing"]
    assert prep["rendered"] == "scenes rendered at 16x16 px: no resize, crop or interpolation ran", prep
    assert not {"resize_shorter_side", "crop_pct", "interpolation"} & set(prep), prep
    assert prep["not_run"]["interpolation"] == "bicubic" and prep["order"].startswith("the transform"), prep


def _timm_checkpoint(fx: Fixtures, **recorded: Any) -> str:
    import timm

    from invmeter.models import save_checkpoint

    model = users(lambda: timm.create_model("test_efficientnet", pretrained=False, num_classes=2))
    return str(save_checkpoint(model, fx.out / "ckpt", {"arch": "timm:test_efficientnet", "num_classes": 2,
                                                        **recorded}))


def _cifar_checkpoint(fx: Fixtures) -> str:
    from invmeter.models import create_cifar_model, save_checkpoint

    model = users(lambda: create_cifar_model("resnet18", num_classes=2, width=0.125))
    return str(save_checkpoint(model, fx.out / "ckpt", {"arch": "cifar:resnet18", "width": 0.125, "num_classes": 2,
                                                        "input_size": [16, 16]}))


def _random_init(o: Outcome) -> None:
    assert _report(o)["model"]["weights"] == "random-init"


def _last_row_failed_saying_how(o: Outcome) -> None:
    last = o.value[-1]
    assert last["status"] == "failed" and "HF_HUB_OFFLINE" in last["reason"], last


def _fed_its_pretrained_cfg(o: Outcome) -> None:
    prep = o.value.model["preprocessing"]
    assert prep["mean"] == [0.485, 0.456, 0.406] and prep["source"].startswith("timm pretrained_cfg"), prep


def _says_unnormalised(o: Outcome) -> None:
    assert any("records no normalisation" in w for w in o.value.warnings), o.value.warnings
    assert o.value.model["preprocessing"]["mean"] is None


def _two_pairings(o: Outcome) -> None:
    report = _report(o)
    m = report["metrics"]
    assert m["paired_distance_ratio"]["value"] > 0 and m["clean_distance_ratio"]["value"] > 0, m
    assert report["provenance"]["forward_passes"] == 3 * 8  # clean, a first and a second draw of the transform


def _forced_group() -> Any:
    from torchmetrics import MetricCollection

    import invmeter.integrations.torchmetrics as tm

    metrics = MetricCollection({"invariance": tm.Invariance("rotation"), "ratio": tm.PairedDistanceRatio("rotation")},
                               compute_groups=[["invariance", "ratio"]])
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    metrics.update(z, z + 0.1)
    return metrics.compute()


def _needs_torchmetrics() -> str | None:
    return None if importlib.util.find_spec("torchmetrics") else "needs the torchmetrics extra"


HUB_HINT = r"HF_HUB_OFFLINE.*--weights random"

RECORD_CASES: list[Case] = [
    # named weights are a promise: offline, a tag, a weights name or an enum is an error saying how to get them
    Case("silent-24-timm-tag-offline", ("score", "-m", "timm:resnet18.a1_in1k", "-t", "hflip", *TINY),
         Error(r"The weights timm/resnet18\.a1_in1k for 'resnet18\.a1_in1k' are unavailable .*models--timm--resnet18"
               r"\.a1_in1k.*" + HUB_HINT)),
    Case("silent-24-torchvision-weights-name-offline",
         ("score", "-m", "torchvision:resnet18", "--weights", "IMAGENET1K_V1", "-t", "hflip", *TINY),
         Error(r"The weights ResNet18_Weights\.IMAGENET1K_V1 for 'resnet18' are unavailable .*" + RESNET18_V1 +
               r".*--weights random", before="forward")),
    Case("silent-24-torchvision-weights-enum-offline",
         lambda fx: invmeter.score("torchvision:resnet18", "hflip", weights=_resnet18_default(), **KW),
         Error(r"The weights ResNet18_Weights\.IMAGENET1K_V1 .*torch hub cache.*--weights random", before="forward"),
         api="score()"),
    Case("silent-24-pretrained-offline", ("score", "-m", "timm:test_resnet", "--weights", "pretrained", "-t",
                                          "hflip", *TINY),
         Error(r"Pretrained weights for 'test_resnet' are unavailable .*" + HUB_HINT)),
    Case("silent-24-auto-bare-name-falls-back-loudly", ("score", "-m", "timm:test_resnet", "-t", "hflip", *TINY,
                                                        "--json", "{out}/r.json"),
         Warns(r"PRETRAINED WEIGHTS UNAVAILABLE for 'test_resnet'", _random_init)),
    Case("silent-25-weights-enum-of-another-arch",
         ("score", "-m", "torchvision:resnet18", "--weights", "ResNet50_Weights.IMAGENET1K_V1", "-t", "hflip", *TINY),
         Error(r"ResNet50_Weights\.IMAGENET1K_V1 are not torchvision:resnet18's \(its weights are ResNet18_Weights")),
    Case("silent-25-weights-enum-object-of-another-arch",
         lambda fx: invmeter.score("torchvision:resnet18", "hflip", weights=_resnet50_v1(), **KW),
         Error(r"ResNet50_Weights\.IMAGENET1K_V1 are not torchvision:resnet18's"), api="score()"),
    Case("silent-25-damaged-torch-hub-file",
         lambda fx: _with(_damaged_torch_hub, lambda: invmeter.score("torchvision:resnet18", "hflip", **KW)),
         Error(r"The cached weights file '.*" + RESNET18_V1 + r"' for 'resnet18' cannot be loaded .*delete it.*"
               r"--weights random", before="forward"), api="score()"),
    Case("silent-25-damaged-hugging-face-file",
         lambda fx: _with(_damaged_hf_cache, lambda: invmeter.score("timm:test_resnet", "hflip", **KW), fx),
         Error(r"The cached weights file '.*models--timm--test_resnet\.r160_in1k.*model\.safetensors' .*cannot be "
               r"loaded .*--weights random", before="forward"), api="score()"),
    # the zoo: a glob's tags without weights are skipped (not 9 identical random rows); a named tag is a failed row
    Case("silent-24-zoo-glob-of-tags-offline", lambda fx: _zoo_rows(fx, ["timm:test_resnet*"]),
         Warns(r"Skipped 1 tag \(timm:test_resnet\.r160_in1k; .*--include-random",
               _rows_are([("timm:test_resnet", "random-init", "ok")])), api="zoo()"),
    Case("silent-24-zoo-include-random", lambda fx: _zoo_rows(fx, ["timm:test_resnet*"], include_random=True),
         Warns(r"Scoring 1 tag \(timm:test_resnet\.r160_in1k.*at RANDOM INIT \(--include-random\)",
               _rows_are([("timm:test_resnet", "random-init", "ok"),
                          ("timm:test_resnet.r160_in1k", "random-init", "ok")])), api="zoo()"),
    Case("silent-24-zoo-named-tag-offline", lambda fx: _zoo_rows(fx, ["timm:test_resnet.r160_in1k"], weights="random")
         + _zoo_rows(fx, ["timm:test_resnet.r160_in1k"]),
         Correct(_last_row_failed_saying_how), api="zoo()"),
    # preprocessing records what ran
    Case("silent-24-rendered-scenes-record-no-resize",
         ("score", "-m", "timm:test_efficientnet", "--weights", "random", "-t", "hflip", *TINY, "--json",
          "{out}/r.json"), Correct(_rendered_record)),
    Case("silent-24-timm-checkpoint-without-preprocessing",
         lambda fx: invmeter.score(_timm_checkpoint(fx), "hflip", **KW),
         Warns(r"records no input_size, mean, std: using timm's pretrained_cfg for timm:test_efficientnet "
               r"\(160x160 px, bicubic, crop 0\.952, mean \(0\.485", _fed_its_pretrained_cfg),
         api="score()"),
    Case("silent-24-checkpoint-without-normalisation",
         lambda fx: invmeter.score(_cifar_checkpoint(fx), "hflip", **KW),
         Warns(r"records no normalisation \(mean/std\): it is fed unnormalised pixels", _says_unnormalised),
         api="score()"),
    # one definition per name
    Case("silent-24-paired-distance-ratio-is-the-papers-pairing",
         ("score", "-m", "adversarial_models:features", "-t", "rotation", *TINY, "--metrics",
          "paired_distance_ratio,clean_distance_ratio", "--json", "{out}/r.json"), Correct(_two_pairings)),
    Case("silent-24-paired-distance-ratio-deterministic-transform",
         ("score", "-m", "adversarial_models:features", "-t", "hflip", *TINY, "--metrics", "paired_distance_ratio"),
         Error(r"paired_distance_ratio metric needs a transform with random parameters: two draws of hflip are the "
               r"same image")),
    Case("silent-24-torchmetrics-ratio-in-invariances-group", lambda fx: _forced_group(),
         Error(r"state was filled by a metric with other settings or another pairing", before=None),
         skip=_needs_torchmetrics, api="PairedDistanceRatio", surface="integrations"),
]


def _resnet18_default() -> Any:
    from torchvision.models import ResNet18_Weights

    return ResNet18_Weights.DEFAULT


def _resnet50_v1() -> Any:
    from torchvision.models import ResNet50_Weights

    return ResNet50_Weights.IMAGENET1K_V1

