"""Weights: safe loading of state dicts, availability of pretrained weights, and what happens when they cannot be had.

Availability goes through the model libraries' own hub logic: Hugging Face (``huggingface_hub``: its cache,
``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` mirrors and the usual proxy variables) for timm, and ``torch.hub``'s cache and
download for torchvision.

Named weights are a promise: only ``weights="auto"`` on a model named without weights (``resnet18``,
``torchvision:resnet50``) may fall back to a random initialisation, and it says so loudly. ``pretrained``, a timm
tag (``resnet18.a1_in1k``) or a torchvision weights name or enum that cannot be had is a one-line error naming where
the weights would be and how to get them; a cached weights file that cannot be loaded is an error naming the file.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from invmeter.errors import CheckpointError, InvmeterError, warn

__all__ = ["CHECKPOINT_SUFFIXES", "is_path", "hf_cache_folder", "hf_how", "hf_weights", "load_state_file",
           "load_weights_into", "torch_load_tensors", "unloadable_cache_file", "weights_unavailable"]

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm looks for in a Hub repository, in its order


def is_path(text: object) -> bool:
    """Whether a weights argument names a file (rather than ``auto``/``pretrained``/``random`` or a tag)."""
    if isinstance(text, Path):
        return True
    return isinstance(text, str) and (text.endswith(CHECKPOINT_SUFFIXES) or "/" in text or text.startswith("."))


def hf_weights(repo_id: str) -> tuple[str | None, str | None]:
    """``(cached file or None, why unavailable or None)`` for a Hugging Face repository's weights.

    The cache is consulted first; otherwise one metadata request without retries (``huggingface_hub`` honours
    ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and proxies) tells whether a download can work, so an offline machine
    falls back in a second instead of retrying for a minute.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, is_offline_mode, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError

    for filename in HF_FILES:
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return found, None
    if is_offline_mode():
        return None, "not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    why = None
    for filename in HF_FILES:
        try:
            get_hf_file_metadata(hf_hub_url(repo_id, filename), timeout=10, retry_on_errors=False)
            return None, None
        except EntryNotFoundError:
            continue
        except Exception as exc:  # noqa: BLE001 - any failure to reach the Hub means the weights cannot be had
            why = f"not in the local Hugging Face cache and the Hub is unreachable ({exc.__class__.__name__})"
            break
    return None, why or f"the Hub repository {repo_id!r} has no weights file"


def torch_load_tensors(path: Path, what: str, damaged: str) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only. A pickle that would import
    anything else (``os.system``, a class of its own, ...) is refused before it runs, as a one-line CheckpointError
    naming ``what`` (e.g. ``"weights file"``) and the refused call; a file that cannot be read at all is a
    CheckpointError too, ending with the ``damaged`` advice."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))  # torch names the global it refused to import
        if found is not None:
            raise CheckpointError(
                f"Refused {what} {str(path)!r}: unpickling it would call {found.group(1)}, which can run code; invmeter "
                "loads tensors only. Use a copy you trust, saved as .safetensors or as a plain state dict of tensors."
            ) from None
        failure = exc
    except Exception as exc:  # noqa: BLE001 - any failure to parse the file means a damaged file for the user
        failure = exc
    raise CheckpointError(f"Cannot read {what} {str(path)!r} ({failure.__class__.__name__}); {damaged}")


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict safely: safetensors, or ``torch.load(weights_only=True)`` for .pt/.pth/.bin."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"Weights file {str(p)!r} does not exist.")
    damaged = "is it corrupt, or not a weights-only file? invmeter never unpickles arbitrary objects."
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except Exception as exc:  # noqa: BLE001 - any failure to parse the file is a corrupt checkpoint for the user
            raise CheckpointError(f"Cannot read weights file {str(p)!r} ({exc.__class__.__name__}); {damaged}") from None
    state = torch_load_tensors(p, "weights file", damaged)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"Weights file {str(p)!r} does not contain a state dict of tensors.")
    return state


def load_weights_into(model: nn.Module, path: str | Path, name: str) -> None:
    """Load a state dict file into ``model`` (strict); a mismatch is a one-line CheckpointError."""
    state = load_state_file(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)[:200]
        raise CheckpointError(f"Weights in {str(path)!r} do not match model {name!r}: {first}") from None


def hf_cache_folder(repo_id: str) -> str:
    """Where ``huggingface_hub`` keeps a model repository's files (its cache, ``HF_HUB_CACHE`` / ``HF_HOME``)."""
    from huggingface_hub import constants

    return str(Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}")


def hf_how(repo_id: str) -> str:
    """How to get a Hugging Face repository's weights, for an error message."""
    return (f"Download them into the Hugging Face cache ({hf_cache_folder(repo_id)}) where the Hub can be reached "
            "(HF_HUB_OFFLINE unset; HF_ENDPOINT for a mirror) or copy that folder here")


def weights_unavailable(name: str, requested: str, why: str, how: str) -> str:
    """What happens when pretrained weights cannot be had. ``requested``: ``"auto"`` (the model was named without
    weights: warn loudly and return ``"random-init"``), else ``"pretrained"`` or the weights the user named (a tag,
    a torchvision weights name): a one-line :class:`InvmeterError` saying why, how to get them (``how``: the
    cache path, the variables that matter) and the alternatives."""
    if requested != "auto":
        what = "Pretrained weights" if requested == "pretrained" else f"The weights {requested}"
        raise InvmeterError(f"{what} for {name!r} are unavailable ({why}). {how}; or pass a weights file with "
                            "--weights PATH, or use --weights random for a random initialisation.")
    warn(f"PRETRAINED WEIGHTS UNAVAILABLE for {name!r} ({why}): scoring a RANDOMLY INITIALISED model. "
         "Results describe the architecture, not a trained model. Use --weights PATH or --weights random to silence.")
    return "random-init"


def unloadable_cache_file(name: str, path: str | Path, exc: Exception) -> CheckpointError:
    """A weights file in a hub cache (torch hub, Hugging Face) that exists but cannot be loaded: an error naming the
    file, never a silent fallback to random weights."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return CheckpointError(f"The cached weights file {str(path)!r} for {name!r} cannot be loaded "
                           f"({exc.__class__.__name__}{': ' + first if first else ''}). If it is damaged or "
                           "incomplete, delete it (it is downloaded again where the hub can be reached); or use --weights random.")
