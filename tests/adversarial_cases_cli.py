"""The adversarial suite's command-line rows (see tests/test_adversarial.py). ``{name}`` in an argument is a fixture
path (tests/adversarial_fixtures.py), ``{out}`` the row's own empty folder; odd models are
``adversarial_models:NAME`` factories (tests/adversarial_models.py), scored at 16 pixels on 8 images of 2 classes."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from adversarial_support import Case, Correct, Error, Outcome, Warns, is_root, no_sysfs
from PIL import Image

__all__ = ["CLI_CASES"]

TINY = ("--image-size", "16", "--classes", "2", "--n-images", "8", "--bootstrap", "0", "-q")
JSON = ("--json", "{out}/r.json")


def sc(*extra: str, model: str = "features", t: str = "hflip") -> tuple[str, ...]:
    """``invmeter score`` of an odd model (or any spec with a ':' or a '{fixture}') on the tiny settings."""
    spec = model if (":" in model or "{" in model) else f"adversarial_models:{model}"
    return ("score", "-m", spec, "-t", t, *TINY, *extra)


def metrics(o: Outcome, name: str = "r.json") -> dict:
    return o.report(name)["metrics"]


Check = Callable[[Outcome], None]


def all_null_because(words: str) -> Check:
    """Every metric is null (never a number) and its reason says ``words``."""
    def check(o: Outcome) -> None:
        m = metrics(o)
        assert m and all(v["value"] is None and words in v["reason"] for v in m.values()), m
    return check


def defined(*names: str) -> Correct:
    """The named metrics are finite numbers within their ranges."""
    def check(o: Outcome) -> None:
        m = metrics(o)
        for name in names:
            value = m[name]["value"]
            assert value is not None and math.isfinite(value), (name, m[name])
        assert m.get("invariance", {"value": 0})["value"] <= 1.0
    return Correct(check)


def _exact_invariance(o: Outcome) -> None:
    m = metrics(o)
    assert m["invariance"]["value"] == 1.0 and m["clean_distance_ratio"]["value"] == 0.0, m


def _unlabelled(o: Outcome) -> None:
    report = o.report()
    assert set(report["skipped_metrics"]) >= {"l2_ratio", "probe_accuracy"}, report.get("skipped_metrics")
    assert set(report["metrics"]) == {"invariance", "clean_distance_ratio"}
    assert report["metrics"]["invariance"]["value"] is not None


def _n_images(n: int) -> Correct:
    def check(o: Outcome) -> None:
        data = o.report()["data"]
        assert data["n_images"] == n, data
    return Correct(check)


def _profile(*layers: str, metric: str = "invariance") -> Correct:
    """The layer profile lists ``layers`` first, each with a defined ``metric``."""
    def check(o: Outcome) -> None:
        profile = o.report()["layers"]
        assert [x["layer"] for x in profile][: len(layers)] == list(layers), profile
        assert all(math.isfinite(x[metric]["value"]) for x in profile), profile
    return Correct(check)


def _baseline(o: Outcome) -> None:
    report = o.report()
    assert report["baseline"]["model"]["weights"] == "random-init"
    assert report["baseline"]["metrics"]["invariance"]["value"] <= 1.0


def _readout(layer: str) -> Check:
    def check(o: Outcome) -> None:
        report = o.report()
        assert report["model"]["layer"] == layer, report["model"]
        assert report["metrics"]["invariance"]["value"] is not None
    return check


def _png(name: str) -> Check:
    def check(o: Outcome) -> None:
        with Image.open(o.out / name) as img:
            assert img.format == "PNG" and min(img.size) > 100, (img.format, img.size)
    return check


def _csv_rows(o: Outcome) -> None:
    rows = list(csv.DictReader((o.out / "r.csv").open()))
    assert len(rows) == 2 and rows[0]["transform"] == "hflip" and rows[1]["transform"] == "blur", rows
    assert float(rows[0]["invariance"]) <= 1.0


def _json_stdout(o: Outcome) -> None:
    report = json.loads(o.output)
    assert report["metrics"]["invariance"]["value"] == 1.0


def _grid(models: int, transforms: int) -> Check:
    def check(o: Outcome) -> None:
        reports = o.report()
        assert isinstance(reports, list) and len(reports) == models * transforms
        assert {r["transform"]["spec"] for r in reports} == {"hflip", "blur"}
    return check


def _sweep(magnitudes: list[float]) -> Check:
    def check(o: Outcome) -> None:
        sweep = o.report()["sweep"]
        assert [r["magnitude"] for r in sweep] == magnitudes, sweep
    return check


def _seeds(o: Outcome) -> None:
    summary = o.report()["seeds"]
    assert summary["seeds"] == [0, 1] and summary["metrics"]["invariance"]["std"] > 0, summary


def _preview(rows: int, n: int, size: int, zoom: int) -> Check:
    def check(o: Outcome) -> None:
        with Image.open(o.out / "grid.png") as img:
            assert img.size[0] >= n * size * zoom and img.size[1] >= rows * size * zoom, img.size
        assert f"{rows} rows" in o.output
    return check


def _spec(spec: str) -> Check:
    def check(o: Outcome) -> None:
        assert o.report()["transform"]["spec"] == spec, o.report()["transform"]
    return check


def _zoo_rows(o: Outcome) -> None:
    rows = list(csv.DictReader((o.out / "z" / "results.csv").open()))
    status = {r["model"]: (r["status"], r["reason"]) for r in rows}
    assert status["adversarial_models:raises"][0] == "failed" and "boom" in status["adversarial_models:raises"][1]
    assert status["adversarial_models:nan_rows"][0] == "failed" and "NaN" in status["adversarial_models:nan_rows"][1]
    assert status["adversarial_models:features"] == ("ok", "")


def _recomputed(o: Outcome) -> None:
    assert "recomputing the cell" in o.output, o.output


def _built(n: int) -> Check:
    def check(o: Outcome) -> None:
        assert f"train: {n} images 8x8, 2 classes" in o.output, o.output
    return check


def _rebuilt_as_fresh(o: Outcome) -> None:
    """The rebuilt cache entry holds exactly the images a build without a cache renders."""
    from invmeter.data import Transforms2D, build_split

    entry = Path(o.output.strip().rpartition("-> ")[2])
    fresh = build_split(Transforms2D(objects=(0, 1), image_size=8), "train", 4, 0, cache=False)
    assert np.array_equal(np.load(entry / "images.npy"), fresh.images), entry


def _listed(*words: str) -> Check:
    def check(o: Outcome) -> None:
        assert all(w in o.output for w in words), o.output
    return check


_SETTINGS = [
    Case("trace-seed-negative", sc("--seed", "-1"), Error(r"'seed' parameter must be an integer in \[0, .*Got -1\.")),
    Case("trace-seed-huge", sc("--seed", "99999999999999999999999"), Error(r"'seed' .*Got 99999999999999999999999")),
    Case("score-too-few-images-per-class", sc("--classes", "3", "--n-images", "5"),
         Error(r"'n_images' parameter must give at least 2 images per class on Transforms-2D \(6 for 3 .*Got 5")),
    Case("score-labels-model-unnamed", sc("--labels", "model", model="classifier"),
         Error(r"no known label names; '--labels model' needs a classifier with named classes", before="forward")),
    Case("score-seed-not-a-number", sc("--seed", "abc"), Error(r"Invalid value for '--seed'", code=2)),
    Case("accepted-bootstrap-negative", sc("--bootstrap", "-1"),
         Error(r"'n_boot' parameter must be an integer in \[0, ")),
    Case("score-bootstrap-huge", sc("--bootstrap", "10000000"), Error(r"'n_boot' .*Got 10000000")),
    Case("accepted-seeds-empty", sc("--seeds", ""), Error(r"--seeds is empty; give e\.g\. 0,1,2")),
    Case("accepted-seeds-duplicate", sc("--seeds", "0,0"), Error(r"lists 0 more than once.*distinct seeds")),
    Case("score-seeds-negative", sc("--seeds", "0,-1"),
         Error(r"'seeds' parameter must be an integer in \[0, .*Got -1")),
    Case("score-seeds-not-numbers", sc("--seeds", "a,b"), Error(r"seeds.* comma-separated list of integers.*'a,b'")),
    Case("score-seeds-fraction", sc("--seeds", "0.5"), Error(r"seeds.* integers.*'0\.5'")),
    Case("accepted-magnitudes-empty", sc("--magnitudes", ""), Error(r"--magnitudes must be a comma-separated list", 2)),
    Case("score-magnitudes-commas-only", sc("--magnitudes", ",,"), Error(r"--magnitudes must be a comma-separated", 2)),
    Case("score-magnitudes-not-a-number", sc("--magnitudes", "0,abc", t="rotation"), Error(r"magnitude.*'abc'")),
    Case("score-magnitudes-pixels-on-rotation", sc("--magnitudes", "4px", t="rotation"),
         Error(r"'rotation' takes no magnitude in pixels")),
    Case("score-magnitudes-with-seeds", sc("--magnitudes", "0,90", "--seeds", "0,1", t="rotation"),
         Error(r"--magnitudes cannot be combined with --seeds", 2)),
    Case("score-magnitudes-with-baseline", sc("--magnitudes", "0,90", "--baseline", "random-init", t="rotation"),
         Error(r"cannot be combined with --seeds or --baseline", 2)),
    Case("score-magnitudes-composition", sc("--magnitudes", "0,90", t="rotation+blur"), Error(r"varies one family")),
    Case("trace-image-size-huge", sc("--image-size", "100000"),
         Error(r"'image_size' .*\[8, 4096\] \(pixels\)\. Got 100000")),
    Case("score-image-size-tiny", sc("--image-size", "4"), Error(r"'image_size' .*Got 4\. Use at least 8")),
    Case("score-n-images-zero", sc("--n-images", "0"), Error(r"'n_images' parameter must be an integer in \[4, ")),
    Case("score-n-images-three", sc("--n-images", "3"), Error(r"'n_images' .*Got 3")),
    Case("score-classes-one", sc("--classes", "1"), Error(r"'n_classes' parameter must be an integer in \[2, ")),
    Case("score-batch-size-zero", sc("--batch-size", "0"),
         Error(r"'batch_size' parameter must be an integer in \[1, ")),
    Case("score-device-unknown", sc("--device", "tpu"), Error(r"Unknown device 'tpu'; use auto, cpu, cuda")),
    Case("score-device-cuda-index", sc("--device", "cuda:99"),
         Error(r"Device 'cuda:99' (was requested but CUDA is not available|does not exist)")),
    Case("score-probe-unknown", sc("--probe", "svm"), Error(r"'probe' parameter must be one of .*Got 'svm'")),
    Case("score-labels-unknown", sc("--labels", "modle"), Error(r"'labels' .*Got 'modle'\. Did you mean 'model'")),
    Case("score-baseline-unknown", sc("--baseline", "random"), Error(r"'baseline' .*random-init.*Got 'random'")),
    Case("score-metrics-unknown", sc("--metrics", "invariancee"), Error(r"Unknown metric 'invariancee'.*'invariance'")),
    Case("score-metrics-empty", sc("--metrics", ""), Error(r"'metrics' parameter must name at least one metric")),
    Case("score-metrics-commas", sc("--metrics", ",,"), Error(r"'metrics' parameter must name at least one metric")),
    Case("score-metrics-equivariance-unswept", sc("--metrics", "equivariance", t="rotation"),
         Error(r"needs fixed transform magnitudes")),
    Case("score-lie-derivative-discrete", sc("--metrics", "lie_derivative"),
         Error(r"'hflip' has no continuous generator, so it has no Lie derivative; use one of rotation")),
    Case("score-layers-empty-name", sc("--layers", "body.0,"), Error(r"'layers' parameter must be 'blocks' or module")),
    Case("score-layer-blank", sc("--layer", " "), Error(r"'layer' parameter must be a module name")),
    Case("score-layer-unknown", sc("--layer", "nosuch"), Error(r"Unknown layer 'nosuch'", before="forward")),
    Case("score-layers-unknown", sc("--layers", "body.0,nosuch"), Error(r"Unknown layer 'nosuch'", before="forward")),
    Case("score-layers-not-run", sc("--layers", "body.0,unused", model="unused_linear"),
         Error(r"Layer 'unused' of '.*unused_linear' produced no output: the forward pass .* does not run it",
               before=None)),
    Case("score-layer-not-run", sc("--layer", "unused", model="unused_linear"),
         Error(r"Layer 'unused' of '.*unused_linear' produced no output", before=None)),
    Case("score-mean-without-std", sc("--mean", "0.5"), Error(r"Give both 'mean' and 'std'")),
    Case("score-mean-two-values", sc("--mean", "0.5,0.5", "--std", "0.5,0.5"),
         Error(r"'mean' parameter must be 1 or 3")),
    Case("score-std-zero", sc("--mean", "0.5", "--std", "0"), Error(r"'std' parameter must be > 0")),
    Case("score-mean-not-numbers", sc("--mean", "a", "--std", "1"), Error(r"mean.* numbers.*'a'")),
]

_TRANSFORMS = [
    Case("score-transform-unknown", sc(t="rotatoin"), Error(r"Unknown transform 'rotatoin'.*'rotation'")),
    Case("score-transform-empty", sc(t=""), Error(r"A transform must be a name such as 'rotation'")),
    Case("score-transform-bad-parameter", sc(t="color_jitter:hue=5"),
         Error(r"The 'hue' option of transform 'color_jitter' must be in \[0, 0\.5\]\. Got 5")),
    Case("score-transform-bad-option", sc(t="rotation:spin=3"), Error(r"Transform 'rotation' has no option 'spin'")),
    Case("score-transform-bad-magnitude", sc(t="rotation:abc"),
         Error(r"magnitude of transform 'rotation' must be a number .*Got 'abc'")),
    Case("score-transform-dangling-plus", sc(t="rotation+"),
         Error(r"Empty transform name in ''; write e\.g\. 'rotation'")),
    Case("score-second-transform-unknown", ("score", "-m", "adversarial_models:features", "-t", "hflip", "-t", "nosuch",
                                            *TINY), Error(r"Unknown transform 'nosuch'")),
    Case("score-transform-infinite", sc(t="rotation:inf"),
         Error(r"magnitude of transform 'rotation' must be finite\. Got 'inf'")),
    Case("score-transform-nan", sc(t="rotation:nan"),
         Error(r"magnitude of transform 'rotation' must be finite\. Got 'nan'")),
]

_DATA = [
    Case("score-objects-with-a-folder", sc("--data", "{labelled}", "--objects", "{objects}"),
         Error(r"--objects and --backgrounds configure the built-in data", 2)),
    Case("score-data-missing", sc("--data", "{out}/nowhere"), Error(r"Data folder '.*nowhere' does not exist")),
    Case("score-data-is-a-file", sc("--data", "{afile}"), Error(r"Data path '.*afile.txt' is not a folder")),
    Case("score-data-empty-folder", sc("--data", "{empty}"), Error(r"No images found in '.*empty'")),
    Case("score-data-text-only", sc("--data", "{text_only}"), Error(r"No images found in '.*text_only'")),
    Case("score-data-hidden-only", sc("--data", "{hidden_only}"), Error(r"No images found in '.*hidden_only'")),
    Case("score-data-single-class", sc("--data", "{single_class}"),
         Error(r"single class \(only\).*--metrics invariance")),
    Case("score-data-too-few-images", sc("--data", "{labelled}", "--n-images", "100"),
         Error(r"'n_images' parameter asks for 100 images but the data has 8")),
    Case("score-flat-folder-label-metric", sc("--data", "{flat}", "--n-images", "6", "--metrics", "l2_ratio"),
         Error(r"The l2_ratio metric needs class labels; the data has none")),
    Case("score-objects-missing", sc("--objects", "{out}/nowhere"), Error(r"object folder '.*nowhere' does not exist")),
    Case("score-backgrounds-missing", sc("--backgrounds", "{out}/nowhere"), Error(r"background folder '.*nowhere'")),
    Case("score-backgrounds-empty", sc("--backgrounds", "{empty}"), Error(r"background.*'.*empty'")),
    Case("score-objects-empty", sc("--objects", "{empty}"),
         Error(r"object folder '.*empty' has 0 object image\(s\); Transforms-2D needs at least 2")),
    Case("score-more-classes-than-objects", sc("--objects", "{objects}", "--classes", "5"),
         Error(r"asks for 5 objects but the object folder '.*objects' has 2")),
    Case("silent-2-png16", ("score", "-m", "adversarial_models:features", "-t", "hflip", "--image-size", "16",
                            "--bootstrap", "0", "-q", "--data", "{png16}", *JSON), defined("invariance", "l2_ratio")),
    Case("trace-decompression-bomb", sc("--data", "{bomb}", "--n-images", "5"),
         Error(r"Image '.*2\.png' is too large to decode safely.*MAX_IMAGE_PIXELS", before=None)),
    Case("images-unreadable-counted", sc("--data", "{unreadable}"),
         Error(r"^2 of 8 image files cannot be read; the first: Cannot read image '.*a/3\.png'", before=None)),
    Case("images-zero-bytes", sc("--data", "{zero_bytes}", "--n-images", "5"),
         Error(r"1 of 5 image files cannot be read; the first: Cannot read image '.*b/2\.png'", before=None)),
    Case("images-one-pixel", sc("--data", "{one_pixel}", *JSON), defined("invariance", "l2_ratio")),
    Case("images-slivers", sc("--data", "{slivers}", "--n-images", "6", *JSON), defined("invariance")),
    Case("images-flat-folder", sc("--data", "{flat}", "--n-images", "6", *JSON), Correct(_unlabelled)),
    Case("images-objects-and-backgrounds", sc("--objects", "{objects}", "--backgrounds", "{backgrounds}", *JSON),
         defined("invariance", "l2_ratio")),
]

_MODELS = [
    Case("silent-1-nan-rows", sc(model="nan_rows"), Error(
        r"Model 'adversarial_models:nan_rows' produced NaN or Inf representations \(layer 'output'\) for \d+ of 16 "
        r"images \(3\d%\)", before=None)),
    Case("silent-1-inf-values", sc(model="inf_output"),
         Error(r"'adversarial_models:inf_output' produced NaN or Inf .*\(100%\)", before=None)),
    Case("silent-1-constant-features", sc(*JSON, model="constant"),
         Warns(r"undefined.*identical for every image", all_null_because("identical for every image"))),
    Case("silent-1-constant-logits", sc(*JSON, model="constant_classifier"),
         Warns(r"undefined.*identical for every image", all_null_because("identical for every image"))),
    Case("constant-field-measures", sc("--metrics", "invariance,cka,normalized_variance,anova_variant,goodfellow",
                                       *JSON, model="constant", t="rotation"),
         Warns(r"cka, normalized_variance.*undefined", all_null_because("identical for every image"))),
    Case("constant-lie-derivative", sc("--metrics", "lie_derivative", model="constant", t="rotation"),
         Error(r"carries no derivative with respect to the input image .*its Lie derivative is undefined",
               before=None)),
    Case("lie-derivative-integer-features", sc("--metrics", "lie_derivative", model="integer_output", t="rotation"),
         Error(r"non-differentiable steps such as rounding or integer casts", before=None)),
    Case("lie-derivative-nan-rows", sc("--metrics", "lie_derivative", model="nan_rows", t="rotation"),
         Error(r"'adversarial_models:nan_rows' produced NaN or Inf representations", before=None)),
    Case("lie-derivative-composition", sc("--metrics", "lie_derivative", t="rotation+blur"),
         Error(r"lie_derivative needs one transform family with a continuous generator .*got 'rotation\+blur'")),
    Case("edge-field-measures-one-feature", sc("--metrics", "cka,normalized_variance,anova_variant,goodfellow", *JSON,
                                               model="one_feature", t="rotation"),
         Warns(r"goodfellow undefined .*needs more images than its threshold calibration",
               defined("cka", "normalized_variance", "anova_variant").check)),
    Case("edge-lie-derivative-tuple-output", sc("--metrics", "lie_derivative", *JSON, model="tuple_output",
                                                t="rotation"), defined("lie_derivative")),
    Case("edge-lie-derivative-layers", sc("--layers", "body.0", "--metrics", "lie_derivative,cka", *JSON,
                                          t="rotation"), _profile("body.0", metric="lie_derivative")),
    Case("trace-unused-linear", sc(*JSON, model="unused_linear"), Correct(_readout("output"))),
    Case("trace-one-channel-model", sc(model="one_channel"),
         Error(r"'adversarial_models:one_channel' failed on a batch of shape \(16, 3, 16, 16\).*1 channels",
               before=None)),
    Case("trace-scalar-output", sc(model="scalar"),
         Error(r"returned a scalar; a representation needs one vector", before=None)),
    Case("trace-dict-without-tensor", sc(model="dict_no_tensor"), Error(r"returned dict with no tensor", before=None)),
    Case("model-dict-of-tensors", sc(*JSON, model="dict_of_tensors"), defined("invariance", "l2_ratio")),
    Case("model-tuple-output", sc(*JSON, model="tuple_output"), defined("invariance", "l2_ratio")),
    Case("edge-one-feature", sc(*JSON, model="one_feature"), defined("invariance", "l2_ratio", "probe_accuracy")),
    Case("model-no-features", sc(model="no_features"), Error(r"returned 0 features per image", before=None)),
    Case("model-one-number-per-image", sc(model="one_dimensional"),
         Error(r"returned one number per image \(shape \(16,\)\); a representation is a vector", before=None)),
    Case("model-wrong-batch", sc(model="wrong_batch"),
         Error(r"returned 1 rows? for a batch of 16 images", before=None)),
    Case("model-forward-raises", sc(model="raises"),
         Error(r"failed on a batch .*boom: this model is broken", before=None)),
    Case("ctrl-c-during-extraction", sc(model="interrupts"), Error(r"^Interrupted\.$", code=130, before=None)),
    Case("model-integer-output", sc(*JSON, model="integer_output"), defined("invariance", "l2_ratio")),
    Case("model-half-output", sc(*JSON, model="half_output"), defined("invariance", "l2_ratio")),
    Case("edge-exactly-invariant", sc("--data", "{labelled}", *JSON, model="hflip_invariant"),
         Correct(_exact_invariance)),
    Case("edge-identity-composition", sc(*JSON, t="hflip+hflip"), Correct(_exact_invariance)),
    Case("edge-odd-image-count", sc("--n-images", "7", *JSON), _n_images(7)),
    Case("edge-minimum-images", sc("--n-images", "4", *JSON), defined("invariance")),
    Case("edge-image-size-8", sc("--image-size", "8", *JSON), defined("invariance", "l2_ratio")),
    Case("edge-batch-size-1", sc("--batch-size", "1", *JSON), defined("invariance", "l2_ratio")),
    Case("edge-layer-inside", sc("--layer", "body.1", *JSON), Correct(_readout("body.1"))),
    Case("edge-layer-profile", sc("--layers", "body.0,body.1", *JSON), _profile("body.0", "body.1")),
    Case("edge-seeds-two", sc("--seeds", "0,1", *JSON), Correct(_seeds)),
    Case("edge-single-magnitude", sc("--magnitudes", "90", *JSON, t="rotation"), Correct(_sweep([90.0]))),
    Case("edge-magnitude-pixels", sc("--magnitudes", "0,2px", *JSON, t="translation"), Correct(_sweep([0.0, 2.0]))),
    Case("edge-models-by-transforms", ("score", "-m", "adversarial_models:features", "-m",
                                       "adversarial_models:classifier", "-t", "hflip", "-t", "blur", *TINY, *JSON),
         Correct(_grid(2, 2))),
    Case("edge-json-to-stdout", sc("--data", "{labelled}", "--json", "-", model="hflip_invariant"),
         Correct(_json_stdout)),
    Case("edge-csv-appends", ("score", "-m", "adversarial_models:features", "-t", "hflip", "-t", "blur", *TINY, "--csv",
                              "{out}/r.csv"), Correct(_csv_rows)),
    # one grammar for transform lists: ',' separates specs, and key=value items continue a spec's options
    Case("edge-transform-list-in-one-option", ("score", "-m", "adversarial_models:features", "-t", "hflip,blur", *TINY,
                                               "--csv", "{out}/r.csv"), Correct(_csv_rows)),
    Case("edge-transform-options-after-comma", sc(*JSON, t="color_jitter:hue=0.1,saturation=0.2"),
         Correct(_spec("color_jitter:hue=0.1,saturation=0.2"))),
    Case("score-transform-option-first", sc(t="hue=0.1,rotation"),
         Error(r"'hue=0\.1' in 'hue=0\.1,rotation' is an option \(key=value\) but starts the list")),
    Case("score-transform-option-after-magnitude", sc(t="rotation:45,hue=0.1"),
         Error(r"'hue=0\.1' .* follows 'rotation:45', which takes none")),
    Case("score-baseline-random-init", sc("--baseline", "random-init", "--weights", "random", *JSON,
                                          model="cifar:resnet18?width=0.125"),
         Correct(_baseline)),
]

_MODEL_SPECS = [
    Case("score-model-unknown", sc(model="resnet1888:"), Error(r"Unknown model prefix 'resnet1888'")),
    Case("score-model-name-typo", ("score", "-m", "resnet1888", *TINY), Error(r"Unknown model 'resnet1888'.*resnet18")),
    Case("score-model-empty", ("score", "-m", "", *TINY), Error(r"model spec must be a non-empty string")),
    Case("score-cifar-unknown", sc(model="cifar:resnet99"), Error(r"Unknown .*'resnet99'.*resnet18")),
    Case("score-cifar-width-negative", sc(model="cifar:resnet18?width=-1"),
         Error(r"The 'width' multiplier must be in \[0\.03, 4\]\. Got -1")),
    Case("score-cifar-option-unknown", sc(model="cifar:resnet18?depth=3"),
         Error(r"Bad option 'depth=3' in 'cifar:resnet18\?depth=3'")),
    Case("score-factory-raises", sc(model="factory_raises"),
         Error(r"factory 'adversarial_models:factory_raises' failed when called without arguments \(RuntimeError")),
    Case("score-factory-needs-arguments", sc(model="needs_arguments"),
         Error(r"model factory 'adversarial_models:needs_arguments' failed.*width")),
    Case("score-factory-not-callable", sc(model="NOT_CALLABLE"),
         Error(r"'adversarial_models:NOT_CALLABLE' is not callable")),
    Case("score-factory-not-a-module", sc(model="not_a_module"),
         Error(r"'adversarial_models:not_a_module' returned str, not an nn\.Module")),
    Case("score-factory-missing", sc(model="missing"),
         Error(r"Cannot import model factory 'adversarial_models:missing'")),
    Case("score-factory-module-missing", sc(model="nosuchpkg.mod:factory"), Error(r"Cannot import model factory")),
    Case("score-weights-with-factory", sc("--weights", "random"), Error(r"--weights does not apply to the factory")),
    Case("score-weights-name-typo", sc("--weights", "pretrainedd", model="cifar:resnet18?width=0.125"),
         Error(r"'weights' parameter must be one of auto, pretrained, random or a file path.*'pretrainedd'")),
    Case("score-weights-file-missing", sc("--weights", "{out}/missing.pt", model="cifar:resnet18?width=0.125"),
         Error(r"Weights file '.*missing\.pt' does not exist")),
    Case("silent-3-weights-with-checkpoint", sc("--weights", "{ckpt}", model="{ckpt}"),
         Error(r"cannot apply to the checkpoint '.*model\.safetensors': a checkpoint brings its own weights")),
    Case("silent-3-weights-other-arch", sc("--weights", "{vgg_weights}", model="{ckpt}"),
         Error(r"--weights '.*vgg11\.safetensors' cannot apply to the checkpoint")),
    Case("score-weights-other-arch", sc("--weights", "{vgg_weights}", model="cifar:resnet18?width=0.125"),
         Error(r"Weights in '.*vgg11\.safetensors' do not match model", before="forward")),
    Case("score-weights-garbage", sc("--weights", "{garbage_weights}", model="cifar:resnet18?width=0.125"),
         Error(r"Cannot read weights file '.*garbage\.safetensors'", before="forward")),
    Case("score-weights-malicious-pickle", sc("--weights", "{evil}", model="cifar:resnet18?width=0.125"),
         Error(r"Refused weights file '.*evil\.pt': unpickling it would call posix\.system", before="forward")),
    Case("score-checkpoint-missing", sc(model="{out}/none.safetensors"),
         Error(r"none\.safetensors.*(does not exist|not found)")),
    Case("score-checkpoint-no-sidecar", sc(model="{ckpt_no_sidecar}"), Error(r"has no sidecar")),
    Case("score-checkpoint-bad-sidecar", sc(model="{ckpt_bad_sidecar}"),
         Error(r"Checkpoint sidecar '.*ckpt_bad_sidecar/model\.json' is not valid JSON")),
    Case("score-checkpoint-unknown-arch", sc(model="{ckpt_unknown_arch}"),
         Error(r"sidecar '.*ckpt_unknown_arch/model\.json' records the architecture 'cifar:resnet99'")),
    Case("score-checkpoint-corrupt", sc(model="{ckpt_corrupt}"),
         Error(r"'.*ckpt_corrupt/model\.safetensors'", before="forward")),
    Case("score-checkpoint-scores", sc(*JSON, model="{ckpt}"), defined("invariance", "l2_ratio")),
    Case("score-torchvision-weights-typo", sc("--weights", "IMAGENET1K_V3", model="torchvision:resnet18"),
         Error(r"Unknown weights for torchvision:resnet18 'IMAGENET1K_V3'\. Did you mean 'IMAGENET1K_V1'")),
    Case("edge-checkpoint-folder", sc(*JSON, model="{run}"), defined("invariance", "l2_ratio")),
    Case("edge-plot-written", sc("--plot", "{out}/p.png"), Correct(_png("p.png"))),
    Case("score-second-model-unknown", ("score", "-m", "adversarial_models:features", "-m", "resnet1888", *TINY),
         Error(r"Unknown model 'resnet1888'")),
]

_OUTPUTS = [
    Case("late-json-parent-is-a-file", sc("--json", "{afile}/r.json"),
         Error(r"Cannot write JSON to '.*afile\.txt/r\.json': .* is a file")),
    Case("late-json-is-a-folder", sc("--json", "{out}"), Error(r"The JSON path '.*' is a directory")),
    Case("late-json-folder-missing", sc("--json", "{out}/no/r.json"),
         Error(r"Cannot write JSON to '.*no/r\.json': folder")),
    Case("late-csv-other-columns", sc("--csv", "{other_csv}"), Error(r"CSV file '.*other\.csv' has other columns")),
    Case("late-csv-is-a-folder", sc("--csv", "{out}"), Error(r"The CSV path '.*' is a directory")),
    Case("trace-plot-xyz", sc("--plot", "{out}/out.xyz"),
         Error(r"Cannot write the plot '.*out\.xyz': unsupported format '\.xyz'")),
    Case("late-plot-no-extension", sc("--plot", "{out}/plot"), Error(r"plot '.*plot': unsupported format '\(none\)'")),
    Case("late-plot-parent-missing", sc("--plot", "{out}/a/b.png"),
         Error(r"Cannot write plot to '.*a/b\.png': folder")),
    Case("late-unwritable-path", sc("--json", "{readonly}/r.json"), Error(r"'.*readonly/r\.json': permission denied"),
         skip=is_root),
    Case("late-unwritable-even-for-root", sc("--csv", "/sys/r.csv"), Error(r"Cannot write CSV to '/sys/r\.csv': permi"),
         skip=no_sysfs),
]

_ZOO = [
    Case("zoo-no-patterns", ("zoo", "--out", "{out}/z"), Error(r"Give model PATTERNS .* or --models FILE", code=2)),
    Case("zoo-pattern-matches-nothing", ("zoo", "timm:nosuchnet*", "--out", "{out}/z"),
         Error(r"matches no model or file")),
    Case("zoo-transform-unknown", ("zoo", "adversarial_models:features", "-t", "rotatoin", "--out", "{out}/z"),
         Error(r"Unknown transform 'rotatoin'")),
    Case("zoo-rank-unknown", ("zoo", "adversarial_models:features", "--rank", "accuracy", "--out", "{out}/z"),
         Error(r"Unknown metric 'accuracy'")),
    Case("zoo-data-missing", ("zoo", "adversarial_models:features", "--data", "{out}/nowhere", "--out", "{out}/z"),
         Error(r"Data folder '.*nowhere' does not exist")),
    Case("zoo-jobs-negative", ("zoo", "adversarial_models:features", "-j", "-2", "--out", "{out}/z"),
         Error(r"'jobs' parameter must be >= 0 \(0 = auto\)\. Got -2")),
    Case("zoo-executor-unknown", ("zoo", "adversarial_models:features", "--executor", "slurm", "--out", "{out}/z"),
         Error(r"executor.*slurm")),
    Case("zoo-out-is-a-file", ("zoo", "adversarial_models:features", "--out", "{afile}"),
         Error(r"The zoo's output folder '.*afile\.txt' is a file; give a folder")),
    Case("zoo-out-unwritable", ("zoo", "adversarial_models:features", "--out", "{readonly}/z"),
         Error(r"folder '.*readonly/z': permission denied"), skip=is_root),
    Case("zoo-image-size-huge", ("zoo", "adversarial_models:features", "--image-size", "100000", "--out", "{out}/z"),
         Error(r"'image_size' .*Got 100000")),
    Case("zoo-seed-negative", ("zoo", "adversarial_models:features", "--seed", "-3", "--out", "{out}/z"),
         Error(r"'seed' .*Got -3")),
    Case("zoo-failed-models-are-rows", ("zoo", "adversarial_models:raises", "adversarial_models:nan_rows",
                                        "adversarial_models:features", "-t", "hflip", "--image-size", "16", "--classes",
                                        "2", "--n-images", "8", "--bootstrap", "0", "--out", "{out}/z", "-q",
                                        "--allow-failures"),
         Correct(_zoo_rows)),
]

_TRAIN_BASE = ("train", "--classes", "2", "--image-size", "8", "--width", "0.05", "--n-train", "8", "--n-val", "4",
               "--n-test", "4", "--epochs", "1", "--batch-size", "4", "--threads", "1", "-q")


def tr(*extra: str, out: str = "{out}/run") -> tuple[str, ...]:
    return (*_TRAIN_BASE, "--out", out, *extra)


def sel(*extra: str, data: str = "{labelled}") -> tuple[str, ...]:
    """``invmeter select`` of the odd ``features`` model on the labelled fixture at the tiny settings."""
    return ("select", "adversarial_models:features", "--data", data, "-t", "hflip", "--image-size", "16", "--bootstrap",
            "0", "-q", *extra)


def _selected(*words: str) -> Check:
    def check(o: Outcome) -> None:
        assert all(w in o.output for w in words), o.output
    return check


_SELECT = [
    Case("select-no-models", ("select", "--data", "{labelled}"), Error(r"Missing argument 'MODELS", code=2)),
    Case("select-no-data", ("select", "adversarial_models:features"), Error(r"Missing option '--data'", code=2)),
    Case("select-pattern-matches-nothing", ("select", "timm:nosuchnet*", "--data", "{labelled}"),
         Error(r"matches no model or file")),
    Case("select-transform-unknown", sel("-t", "rotatoin"), Error(r"Unknown transform 'rotatoin'")),
    Case("select-transform-repeated", sel("-t", "hflip"), Error(r"A nuisance transform is repeated")),
    Case("select-data-unlabelled", sel(data="{flat}"), Error(r"select needs labelled target data")),
    Case("select-data-builtin", sel(data="transforms2d"), Error(r"not Transforms-2D")),
    Case("select-data-single-class", sel(data="{single_class}"), Error(r"single class; select .* at least 2")),
    Case("select-data-missing", sel(data="{out}/nowhere"), Error(r"Data folder '.*nowhere' does not exist")),
    Case("select-n-images-too-few", sel("--n-images", "4", "--seed", "1"), Error(r"has 1 image\(s\) .*at least 2 per class")),
    Case("select-out-is-a-file", sel("--out", "{afile}"),
         Error(r"The selection's output folder '.*afile\.txt' is a file; give a folder")),
    Case("select-seed-negative", sel("--seed", "-3"), Error(r"'seed' .*Got -3")),
    Case("edge-select-failed-models-are-rows",
         ("select", "adversarial_models:raises", "adversarial_models:features", "--data", "{labelled}", "-t", "hflip",
          "--image-size", "16", "--bootstrap", "0", "-q"),
         Correct(_selected("1 of 2 models ranked", "not ranked: failed (", "boom"))),
    Case("edge-select-evaluate", sel("--evaluate", "--out", "{out}/s"),
         Correct(_selected("Kendall τ", "1 model(s) with both values; a rank correlation needs 2"))),
]

_TRAIN = [
    Case("trace-train-vgg11-size-16", ("train", "--arch", "cifar:vgg11", "--image-size", "16", "--out", "{out}/run"),
         Error(r"cifar:vgg11 needs images of at least 32 pixels .*got 16\. Use --image-size 32")),
    Case("trace-train-seed-negative", tr("--seed", "-1"),
         Error(r"'seed' parameter must be an integer in \[0, .*Got -1")),
    Case("accepted-train-resume-nothing", tr("--resume"), Warns(r"Nothing to resume in '.*run' \(no train_state\.pt\): "
                                                                 r"training from scratch")),
    Case("train-out-is-a-file", tr(out="{afile}"), Error(r"The output path '.*afile\.txt' is a file; give a folder")),
    Case("train-out-holds-a-run", tr(out="{run}"), Error(r"'.*run' already holds a training run; pass --resume")),
    Case("train-resume-other-settings", tr("--resume", "--transforms", "none", "--lr", "0.5", out="{run}"),
         Error(r"it was trained with lr=0\.001, this run asks for 0\.5")),
    Case("train-resume-damaged-state", tr("--resume", out="{damaged_state_run}"), Error(r"train_state\.pt")),
    Case("train-arch-unknown", tr("--arch", "cifar:resnet19"),
         Error(r"Unknown CIFAR architecture 'resnet19'.*resnet18")),
    Case("train-width-zero", tr("--width", "0"), Error(r"'width' parameter of TrainConfig must be in \[0\.03, 4\]")),
    Case("train-width-on-timm", tr("--arch", "timm:resnet18", "--width", "0.5"),
         Error(r"'width' multiplier applies to cifar")),
    Case("train-batch-exceeds-images", tr("--batch-size", "16"),
         Error(r"'batch_size' \(16\) must not exceed 'n_train' \(8\)")),
    Case("train-epochs-zero", tr("--epochs", "0"), Error(r"'epochs' parameter must be an integer >= 1")),
    Case("train-lr-negative", tr("--lr", "-0.1"), Error(r"'lr' parameter of TrainConfig must be in")),
    Case("train-classes-one", tr("--classes", "1"), Error(r"'classes' parameter must be an integer >= 2")),
    Case("train-transforms-unknown", tr("--transforms", "rotatoin"), Error(r"Unknown transform 'rotatoin'")),
    Case("train-track-unknown", tr("--track", "nosuch"), Error(r"Unknown transform 'nosuch'")),
    Case("train-track-images-too-few", tr("--track", "hflip", "--track-images", "2"),
         Error(r"'track_images' parameter must be an integer >= 4\. Got 2")),
    Case("train-plot-unsupported", tr("--plot", "{out}/curves.xyz"),
         Error(r"plot '.*curves\.xyz': unsupported format")),
    Case("train-threads-negative", tr("--threads", "-1"), Error(r"'threads' parameter must be an integer >= 0")),
    Case("trace-image-size-huge-train", tr("--image-size", "100000"), Error(r"'image_size' .*Got 100000")),
    Case("train-device-unknown", tr("--device", "tpu"), Error(r"Unknown device 'tpu'")),
    Case("train-resume-malicious-state", tr("--resume", out="{evil_state_run}"),
         Error(r"Refused training state '.*evil_state_run/train_state\.pt': unpickling it would call posix\.system")),
    Case("train-n-train-below-classes", tr("--classes", "10", "--n-train", "4", "--batch-size", "2"),
         Error(r"'n_train' parameter must be at least the number of classes, 10, .*Got 4\. Use 10 or more")),
    Case("train-n-test-below-classes", tr("--n-test", "1"), Error(r"'n_test' parameter must be at least the number of "
                                                                  r"classes, 2, .*Got 1")),
    Case("train-n-val-zero", tr("--n-val", "0"), Error(r"'n_val' parameter must be an integer >= 1")),
]

_DATA_COMMANDS = [
    Case("accepted-data-build-5-images", ("data", "build", "--n-images", "5", "--split", "train", "--image-size", "8",
                                          "--cache-dir", "{out}/cache"),
         Error(r"must be at least the number of classes, 10, .*Got 5 for the train split\. Use 10 or more")),
    Case("data-build-zero-images", ("data", "build", "--n-images", "0", "--cache-dir", "{out}/cache"),
         Error(r"'n_images' parameter must be an integer >= 1\. Got 0")),
    Case("data-build-transforms-unknown", ("data", "build", "--transforms", "blurr", "--cache-dir", "{out}/cache"),
         Error(r"Unknown transform 'blurr'.*'blur'")),
    Case("data-build-cache-is-a-file", ("data", "build", "--cache-dir", "{afile}", "--split", "train"),
         Error(r"The cache folder '.*afile\.txt' is a file")),
    Case("data-build-seed-negative", ("data", "build", "--seed", "-1", "--cache-dir", "{out}/cache"),
         Error(r"'seed' parameter must be an integer in \[0, .*Got -1")),
    Case("data-build-image-size-tiny", ("data", "build", "--image-size", "2", "--cache-dir", "{out}/cache"),
         Error(r"'image_size' .*Got 2")),
    Case("data-build-split-unknown", ("data", "build", "--split", "dev"),
         Error(r"Invalid value for '--split'", code=2)),
    Case("data-build-classes-one", ("data", "build", "--classes", "1", "--cache-dir", "{out}/cache"),
         Error(r"'n_classes' parameter must be an integer in \[2, .*Got 1")),
    Case("edge-data-build-balanced", ("data", "build", "--n-images", "4", "--classes", "2", "--split", "train",
                                      "--image-size", "8", "--cache-dir", "{out}/cache", "-q"), Correct(_built(4))),
    Case("data-build-corrupt-cache", ("data", "build", "--n-images", "4", "--classes", "2", "--split", "train",
                                      "--image-size", "8", "--cache-dir", "{corrupt_cache}", "-q"),
         Warns(r"data cache entry '.*' is damaged \(images\.npy no longer match their SHA-256 checksums\); "
               r"rebuilding it", _rebuilt_as_fresh)),
    Case("trace-preview-xyz", ("data", "preview", "--out", "{out}/grid.xyz"),
         Error(r"Cannot write the preview '.*grid\.xyz': unsupported format '\.xyz'")),
    Case("trace-preview-no-extension", ("data", "preview", "--out", "{out}/grid"),
         Error(r"preview '.*grid': unsupported format '\(none\)'")),
    Case("preview-parent-missing", ("data", "preview", "--out", "{out}/no/grid.png"),
         Error(r"folder '.*no' does not exist")),
    Case("preview-n-zero", ("data", "preview", "--n", "0", "--out", "{out}/grid.png"),
         Error(r"'n' parameter must be an integer >= 1\. Got 0")),
    Case("preview-zoom-huge", ("data", "preview", "--zoom", "1000", "--out", "{out}/grid.png"),
         Error(r"grid would be 256128 x 288020 pixels .*above Pillow's limit of 89 megapixels.*--zoom \(1000\)")),
    Case("preview-n-huge", ("data", "preview", "--n", "100000", "--out", "{out}/grid.png"),
         Error(r"grid would be 13000112 x 1172 pixels")),
    Case("preview-seed-negative", ("data", "preview", "--seed", "-1", "--out", "{out}/grid.png"),
         Error(r"'seed' parameter must be an integer in \[0, .*Got -1")),
    Case("preview-zoom-zero", ("data", "preview", "--zoom", "0", "--out", "{out}/grid.png"),
         Error(r"'zoom' parameter must be an integer >= 1\. Got 0")),
    Case("preview-transforms-unknown", ("data", "preview", "--transforms", "hflip,nosuch", "--out", "{out}/grid.png"),
         Error(r"Unknown transform 'nosuch'")),
    Case("preview-transforms-empty-item", ("data", "preview", "--transforms", "hflip,", "--out", "{out}/grid.png"),
         Error(r"comma-separated list of transform specs")),
    Case("preview-objects-missing", ("data", "preview", "--objects", "{out}/none", "--out", "{out}/grid.png"),
         Error(r"object folder '.*none' does not exist")),
    Case("trace-image-size-huge-preview", ("data", "preview", "--image-size", "100000", "--out", "{out}/grid.png"),
         Error(r"'image_size' .*Got 100000")),
    Case("edge-preview-small", ("data", "preview", "--transforms", "hflip,blur", "--n", "3", "--zoom", "1",
                                "--image-size", "8", "--classes", "2", "--out", "{out}/grid.png"),
         Correct(_preview(3, 3, 8, 1))),
    Case("edge-preview-options-after-comma", ("data", "preview", "--transforms", "color_jitter:hue=0.1,saturation=0.2",
                                              "--n", "2", "--zoom", "1", "--image-size", "8", "--classes", "2", "--out",
                                              "{out}/grid.png"), Correct(_preview(2, 2, 8, 1))),
    Case("preview-transforms-option-first", ("data", "preview", "--transforms", "saturation=0.2", "--out",
                                             "{out}/grid.png"), Error(r"is an option \(key=value\) but starts the list")),
]

def fig2(*extra: str) -> tuple[str, ...]:
    return ("reproduce", "fig2", "--preset", "smoke", *extra)


def fig7(*extra: str) -> tuple[str, ...]:
    return ("reproduce", "fig7", "--preset", "smoke", *extra)


_REPRODUCE = [
    Case("trace-reproduce-smoke-vgg11", fig2("--archs", "vgg11", "--out", "{out}/r"),
         Error(r"cifar:vgg11 needs images of at least 32 pixels; the smoke preset of fig2 renders 16")),
    Case("reproduce-dry-run-vgg11", fig2("--archs", "vgg11", "--dry-run"),
         Error(r"cifar:vgg11 needs images of at least 32 pixels")),
    Case("reproduce-figure-unknown", ("reproduce", "fig9", "--preset", "smoke", "--out", "{out}/r"),
         Error(r"Unknown figure 'fig9'\. Did you mean 'fig8'")),
    Case("reproduce-preset-unknown", ("reproduce", "fig2", "--preset", "tiny", "--out", "{out}/r"),
         Error(r"Invalid value for '--preset'", code=2)),
    Case("reproduce-out-missing", fig2(), Error(r"Missing option '--out'", code=2)),
    Case("reproduce-seeds-duplicate", fig2("--seeds", "1,1", "--out", "{out}/r"), Error(r"lists 1 more than once")),
    Case("reproduce-seeds-negative", fig2("--seeds", "-1", "--out", "{out}/r"), Error(r"'seeds' .*Got -1")),
    Case("reproduce-archs-empty", fig2("--archs", ",", "--out", "{out}/r"), Error(r"--archs is empty")),
    Case("reproduce-archs-unknown", fig2("--archs", "resnet19", "--out", "{out}/r"),
         Error(r"Unknown CIFAR architecture 'resnet19'.*'resnet18'")),
    Case("reproduce-width-zero", fig2("--width", "0", "--out", "{out}/r"),
         Error(r"'width' parameter of reproduce must be in \[0.03, 4\]. Got 0")),
    Case("reproduce-width-text", fig2("--width", "wide", "--out", "{out}/r"),
         Error(r"'--width': 'wide' is not a valid float", code=2)),
    Case("reproduce-timm-at-a-width", fig2("--archs", "timm:resnet18", "--out", "{out}/r"),
         Error(r"timm:resnet18 has no channel multiplier but the smoke preset of fig2 trains at width 0.125; add "
               r"--width 1")),
    Case("reproduce-jobs-negative", fig2("-j", "-1", "--out", "{out}/r"), Error(r"'jobs' parameter must be >= 0")),
    Case("reproduce-executor-unknown", fig2("--executor", "slurm", "--out", "{out}/r"),
         Error(r"'executor' parameter must be one of local, ray")),
    Case("reproduce-throughput-without-dry-run", fig2("--throughput", "100", "--out", "{out}/r"),
         Error(r"--throughput only applies to --dry-run")),
    Case("reproduce-throughput-not-a-number", fig2("--throughput", "fast", "--dry-run"),
         Error(r"--throughput takes images per second.*Got 'fast'")),
    Case("reproduce-throughput-file-missing", fig2("--throughput", "{out}/gpu_epoch.json", "--dry-run"),
         Error(r"--throughput .*gpu_epoch.json.*no such file; run benchmarks/gpu_check.sh")),
    Case("reproduce-paper-without-data", ("reproduce", "fig2", "--preset", "paper", "--out", "{out}/r"),
         Error(r"paper preset needs the paper's data.*--allow-standin")),
    Case("reproduce-out-is-a-file", fig7("--out", "{afile}"),
         Error(r"The output folder '.*afile\.txt' is a file; give a folder")),
    Case("reproduce-out-parent-is-a-file", fig7("--out", "{afile}/r"),
         Error(r"Cannot create the output folder '.*afile\.txt/r': '.*afile\.txt' is a file")),
    Case("edge-reproduce-dry-run", fig2("--dry-run"), Correct(_listed("Dry run of", "fig2", "nothing was run"))),
    Case("trace-cell-record-empty", fig7("--out", "{fig7_empty_record}", "-j", "1"), Correct(_recomputed)),
    Case("reproduce-cell-record-garbage", fig7("--out", "{fig7_garbage_record}", "-j", "1"), Correct(_recomputed)),
]

_CATALOGS = [
    Case("models-no-match", ("models", "zzzz*"), Error(r"No model matches 'zzzz\*'")),
    Case("edge-models-cifar", ("models", "cifar:*"),
         Correct(_listed("cifar:resnet18", "cifar:vgg11", "cifar:densenet121"))),
    Case("edge-transforms-listed", ("transforms",), Correct(_listed("rotation", "units:", "hflip"))),
    Case("transforms-extra-argument", ("transforms", "rotation"), Error(r"unexpected extra argument", code=2)),
    Case("edge-metrics-listed", ("metrics",), Correct(_listed("invariance", "higher is better", "l2_ratio"))),
    Case("command-unknown", ("scor",), Error(r"No such command 'scor'", code=2)),
    Case("option-unknown", ("score", "--modle", "x"), Error(r"No such option '--modle'.*'--model'", code=2)),
]

CLI_CASES: list[Case] = [*_SETTINGS, *_TRANSFORMS, *_DATA, *_MODELS, *_MODEL_SPECS, *_OUTPUTS, *_ZOO, *_SELECT,
                         *_TRAIN, *_DATA_COMMANDS, *_REPRODUCE, *_CATALOGS]
