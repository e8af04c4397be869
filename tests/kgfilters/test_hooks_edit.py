"""hooks.edit_output, execution_order and capture(inputs=True): known answers, hooks gone after failure."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kgfilters.hooks import capture, edit_output, execution_order


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).eval()


def test_edit_output_replaces_the_output_and_can_widen_the_batch() -> None:
    net, x = _net(), torch.randn(5, 3)
    with edit_output(net, "0", lambda o: o * 0):
        assert torch.equal(net(x), net[2](torch.zeros(5, 4)))
    with edit_output(net, "0", lambda o: torch.cat([o, o * 0])):  # (5, 4) -> (10, 4)
        out = net(x)
    assert out.shape == (10, 2) and torch.allclose(out[:5], net(x))
    with edit_output(net, "2", lambda o, i: i[:, :2], with_input=True):
        assert torch.equal(net(x), net[1](net[0](x))[:, :2])
    assert not net[0]._forward_hooks and not net[2]._forward_hooks


def test_edit_output_hook_is_removed_after_a_failure() -> None:
    net = _net()
    with pytest.raises(RuntimeError), edit_output(net, "0", lambda o: o[:, :1].expand(-1, 7)):
        net(torch.randn(2, 3))
    assert not net[0]._forward_hooks


def test_execution_order_and_captured_inputs() -> None:
    net, x = _net(), torch.randn(2, 3)
    assert execution_order(net, x) == ["0", "1", "2"]
    with capture(net, ["2"], inputs=True) as got:
        net(x)
    assert torch.equal(got["2"], net[1](net[0](x)))
    assert all(not m._forward_hooks for m in net)
