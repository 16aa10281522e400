"""borrowed(): the caller's model comes back exactly as it was (modes, devices, strides, grads, flags, hooks)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from invmeter.models.guard import borrowed

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


class Mixed(nn.Module):
    """A conv net in TRAIN mode whose head is in eval mode, with a frozen stem, a user hook and existing grads."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 3)
        self.train()
        self.register_buffer("scale", torch.rand(1, 4, 2, 2))  # a 4-D buffer: channels-last converts it too
        self.fc.eval()  # mixed modes
        self.stem.requires_grad_(False)  # frozen parameters
        self.calls: list[int] = []
        self.handle = self.bn.register_forward_hook(lambda _m, _a, out: self.calls.append(out.shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.bn(self.stem(x))) * self.scale.mean(dim=(2, 3), keepdim=True)
        return self.fc(h.mean(dim=(2, 3)))


def _snapshot(model: nn.Module) -> dict[str, object]:
    """Everything borrowed() promises to restore, with tensors cloned for bitwise comparison."""
    return {
        "modes": {name: m.training for name, m in model.named_modules()},
        "tensors": {name: (t.device, t.stride(), t.dtype, t.clone()) for name, t in
                    [*model.named_parameters(), *model.named_buffers()]},
        "storage": {name: t.data_ptr() for name, t in [*model.named_parameters(), *model.named_buffers()]},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "grads": {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()},
        "hooks": {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks))
                  for name, m in model.named_modules()},
    }


def _assert_same(before: dict[str, object], model: nn.Module) -> None:
    after = _snapshot(model)
    assert after["modes"] == before["modes"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["storage"] == before["storage"]  # the very same tensors, not copies
    assert after["hooks"] == before["hooks"]
    for name, (device, stride, dtype, value) in before["tensors"].items():  # type: ignore[union-attr]
        d2, s2, t2, v2 = after["tensors"][name]  # type: ignore[index]
        assert (d2, s2, t2) == (device, stride, dtype), name
        assert torch.equal(v2.cpu(), value.cpu()), name  # bit-identical values
    for name, grad in before["grads"].items():  # type: ignore[union-attr]
        other = after["grads"][name]  # type: ignore[index]
        assert (grad is None) == (other is None) and (grad is None or torch.equal(grad, other)), name


def _model_with_grads() -> Mixed:
    model = Mixed()
    model(torch.rand(2, 3, 8, 8)).sum().backward()  # grads on the trainable parameters, BN stats moved
    model.calls.clear()
    return model


def test_eval_inside_and_every_mode_flag_restored() -> None:
    model = _model_with_grads()
    before = _snapshot(model)
    with borrowed(model) as m:
        assert m is model and not any(mod.training for mod in m.modules())
        m(torch.rand(2, 3, 8, 8))  # eval mode: BN running stats untouched, dropout off
    _assert_same(before, model)
    assert model.training and not model.fc.training and model.bn.training


def test_users_hook_fires_and_stays_and_no_hook_is_added() -> None:
    model = _model_with_grads()
    handle_id = model.handle.id
    with borrowed(model) as m:
        m(torch.rand(5, 3, 8, 8))
    assert model.calls == [5]  # the caller's hook was left in place
    assert list(model.bn._forward_hooks) == [handle_id]
    assert all(not mod._forward_hooks and not mod._forward_pre_hooks for mod in model.modules() if mod is not model.bn)


def test_channels_last_conversion_is_undone() -> None:
    model = _model_with_grads()
    before = _snapshot(model)
    with borrowed(model, channels_last=True) as m:
        assert m.stem.weight.is_contiguous(memory_format=torch.channels_last)
        assert not m.stem.weight.is_contiguous()
        m(torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last))
    _assert_same(before, model)
    assert model.stem.weight.is_contiguous()


def test_restored_after_an_exception_and_parameters_never_copied_when_not_needed() -> None:
    model = _model_with_grads()
    before = _snapshot(model)
    with pytest.raises(RuntimeError, match="boom"), borrowed(model, "cpu") as m:
        assert m.stem.weight.data_ptr() == before["storage"]["stem.weight"]  # type: ignore[index]  # not moved
        m.stem.weight.requires_grad_(True)
        m.fc.weight.grad = None
        raise RuntimeError("boom")
    _assert_same(before, model)


@pytest.mark.parametrize("overwrite", [False, True])
def test_module_to_replacing_parameter_objects_is_undone(overwrite: bool) -> None:
    """torch.__future__'s overwrite-on-conversion makes .to() create new Parameter objects; they are put back."""
    model = _model_with_grads()
    params = {name: p for name, p in model.named_parameters()}
    before = _snapshot(model)
    previous = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(overwrite)
    try:
        with borrowed(model, channels_last=True):
            pass
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(previous)
    _assert_same(before, model)
    assert all(p is params[name] for name, p in model.named_parameters())  # an optimiser's references stay valid


def test_inference_mode_inside_leaves_no_trace() -> None:
    model = _model_with_grads()
    before = _snapshot(model)
    with borrowed(model) as m, torch.inference_mode():
        out = m(torch.rand(2, 3, 8, 8))
    assert out.is_inference()
    _assert_same(before, model)
    model(torch.rand(2, 3, 8, 8)).sum().backward()  # the model still trains afterwards


@needs_cuda
@pytest.mark.parametrize("start", ["cpu", "cuda"])
def test_device_move_is_undone(start: str) -> None:
    model = _model_with_grads().to(start)
    before = _snapshot(model)
    target = "cuda" if start == "cpu" else "cpu"
    with borrowed(model, target, channels_last=True) as m:
        assert m.stem.weight.device.type == target
        m(torch.rand(2, 3, 8, 8, device=target))
    _assert_same(before, model)


@needs_cuda
def test_cuda_model_on_the_current_gpu_is_not_moved() -> None:
    model = _model_with_grads().cuda()
    ptr = model.stem.weight.data_ptr()
    with borrowed(model, "cuda") as m:
        assert m.stem.weight.data_ptr() == ptr
