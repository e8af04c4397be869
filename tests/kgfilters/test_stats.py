from __future__ import annotations

import pytest
import torch
from torch import nn

from kgfilters.data import TensorImages
from kgfilters.hooks import capture
from kgfilters.models import ModelSpec
from kgfilters.stats import compute_stats, scaled_filter_means


def test_scaled_filter_means_known_answer() -> None:
    # one image, two filters of 2x2; layer min 0 (after ReLU), max 8
    act = torch.tensor([[[[0.0, 2.0], [4.0, 2.0]], [[8.0, 8.0], [-3.0, 0.0]]]])
    # ReLU: filter 1 becomes [8, 8, 0, 0]; scaled by /8 -> f0 mean (0+.25+.5+.25)/4, f1 (1+1+0+0)/4
    got = scaled_filter_means(act)
    assert torch.allclose(got, torch.tensor([[0.25, 0.5]]))


def test_scaled_filter_means_scales_each_image_over_its_whole_layer() -> None:
    a = torch.tensor([[[[1.0, 3.0]], [[5.0, 5.0]]]])  # min 1, max 5
    b = 10 * a + 7  # affine change of one image: scaling removes it
    got = scaled_filter_means(torch.cat([a, b]))
    expect = torch.tensor([0.25, 1.0])  # f0: (0 + .5)/2, f1: 1
    assert torch.allclose(got[0], expect) and torch.allclose(got[1], expect)


def test_constant_layer_gives_zero_not_nan() -> None:
    got = scaled_filter_means(torch.full((2, 3, 4, 4), 2.5))
    assert torch.equal(got, torch.zeros(2, 3))


class _Identity(nn.Module):
    """A 1x1 conv that copies its two input channels: activations equal the images."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))


_SPEC = ModelSpec("id", lambda n: _Identity(), 2, 2, (0.0, 0.0), (1.0, 1.0))


def _images() -> TensorImages:
    # image k: channel 0 = k, channel 1 = 255 - k (as uint8), 2x2 each; labels alternate 0, 1, 2
    imgs = torch.zeros(6, 2, 2, 2, dtype=torch.uint8)
    for k in range(6):
        imgs[k, 0] = 50 * k
        imgs[k, 1, 0, 0] = 255
    return TensorImages(imgs, torch.tensor([0, 1, 2, 0, 1, 2]))


def test_compute_stats_per_class_sums_known_answer() -> None:
    ds = _images()
    stats = compute_stats(_Identity(), _SPEC, ds, layers=["conv"], class_names=("a", "b", "c"),
                          device=torch.device("cpu"), batch_size=4, progress=False)
    ls = stats.layers["conv"]
    # image k: values {50k/255 (x4), 1, 0, 0, 0}; max(50k/255, 1) = 1, min 0
    # filter 0 mean = 50k/255, filter 1 mean = 0.25 (k = 0: max = 1 still)
    f0 = torch.tensor([50 * k / 255 for k in range(6)], dtype=torch.float64)
    expect0 = torch.tensor([f0[0] + f0[3], f0[1] + f0[4], f0[2] + f0[5]])
    assert ls.sums.dtype == torch.float64
    assert torch.allclose(ls.sums[:, 0], expect0, atol=1e-6)
    assert torch.allclose(ls.sums[:, 1], torch.full((3,), 0.5, dtype=torch.float64), atol=1e-7)
    assert ls.counts.tolist() == [2, 2, 2]
    assert torch.allclose(ls.class_means()[:, 1], torch.full((3,), 0.25, dtype=torch.float64), atol=1e-7)
    assert stats.num_images == 6


def test_resumed_equals_uninterrupted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3))
    spec = ModelSpec("t", lambda n: model, 1, 8, (0.5,), (0.5,))
    ds = TensorImages(torch.randint(0, 256, (37, 1, 8, 8), dtype=torch.uint8), torch.arange(37) % 3)
    kw = dict(layers=["0", "2"], class_names=("a", "b", "c"), device=torch.device("cpu"),
              batch_size=5, progress=False)
    whole = compute_stats(model, spec, ds, **kw)

    ckpt = tmp_path / "ckpt.safetensors"

    def kill(batch: int) -> None:
        if batch == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compute_stats(model, spec, ds, checkpoint=ckpt, checkpoint_every=2, on_batch=kill, **kw)
    assert ckpt.is_file()  # saved after batch 4, before the kill
    seen: list[int] = []
    resumed = compute_stats(model, spec, ds, checkpoint=ckpt, checkpoint_every=2, on_batch=seen.append, **kw)
    assert seen[0] == 5  # batches 1-4 were not run again
    for name in ("0", "2"):
        assert torch.equal(resumed.layers[name].sums, whole.layers[name].sums)
        assert torch.equal(resumed.layers[name].counts, whole.layers[name].counts)
    assert not ckpt.exists()


def test_capture_removes_hooks_after_failure() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(RuntimeError), capture(model, ["0"]):
        assert len(model[0]._forward_hooks) == 1
        raise RuntimeError("boom")
    assert len(model[0]._forward_hooks) == 0


def test_capture_with_stop_skips_the_rest_of_the_network() -> None:
    from kgfilters.hooks import forward_until_captured

    calls: list[str] = []
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 1), nn.Flatten())
    model[2].register_forward_hook(lambda *a: calls.append("flatten"))
    with capture(model, ["0", "1"], stop=True) as out:
        forward_until_captured(model, torch.zeros(1, 1, 5, 5), out)
    assert set(out) == {"0", "1"} and calls == []
    model(torch.zeros(1, 1, 5, 5))
    assert calls == ["flatten"]  # hooks gone, the network runs whole again


def test_bf16_autocast_is_close_to_float32() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3))
    spec = ModelSpec("t", lambda n: model, 1, 8, (0.5,), (0.5,))
    ds = TensorImages(torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8), torch.arange(20) % 2)
    kw = dict(layers=["0", "2"], class_names=("a", "b"), device=torch.device("cpu"), progress=False)
    full = compute_stats(model, spec, ds, **kw)
    half = compute_stats(model, spec, ds, bf16=True, channels_last=True, **kw)
    for name in ("0", "2"):
        assert half.layers[name].sums.dtype == torch.float64
        assert torch.allclose(half.z(name), full.z(name), atol=0.02)


def _reference_sums(model: nn.Module, spec: ModelSpec, ds: TensorImages, layers: list[str],
                    classes: int) -> dict[str, torch.Tensor]:
    """FILTAG 2.1 straight from its definition, in float64, one image at a time: ReLU, min-max
    scale over the image's whole layer tensor, mean per filter, sum per class."""
    sums: dict[str, torch.Tensor] = {}
    with torch.no_grad(), capture(model, layers) as out:
        for i in range(len(ds)):
            x, y = ds.batch(i, i + 1)
            model(spec.prepare(x))
            for name in layers:
                a = torch.relu(out[name][0].double())  # (C, H, W)
                lo, hi = a.min(), a.max()
                scaled = (a - lo) / (hi - lo) if hi > lo else torch.zeros_like(a)
                s = sums.setdefault(name, torch.zeros(classes, a.shape[0], dtype=torch.float64))
                s[int(y)] += scaled.mean((1, 2))
    return sums


@pytest.mark.parametrize("channels_last", [False, True])
def test_statistics_pass_equals_a_direct_float64_computation(channels_last: bool) -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(5, 7, 3), nn.Conv2d(7, 4, 1), nn.Flatten(), nn.LazyLinear(3))
    model(torch.zeros(1, 2, 10, 10))  # materialise the lazy layer
    spec = ModelSpec("t", lambda n: model, 2, 10, (0.5, 0.5), (0.25, 0.5))
    ds = TensorImages(torch.randint(0, 256, (23, 2, 10, 10), dtype=torch.uint8), torch.arange(23) % 3)
    layers = ["0", "3", "4"]
    ref = _reference_sums(model, spec, ds, layers, 3)
    stats = compute_stats(model, spec, ds, layers=layers, class_names=("a", "b", "c"),
                          device=torch.device("cpu"), batch_size=4, channels_last=channels_last,
                          progress=False)
    assert stats.layers["0"].counts.tolist() == [8, 8, 7] and stats.num_images == 23
    for name in layers:
        got = stats.layers[name].sums
        assert got.dtype == torch.float64 and got.shape == ref[name].shape
        # each image's 5-7 filter means are float32 before they are summed in float64
        assert torch.allclose(got, ref[name], rtol=0, atol=8 * 2e-7), name
        assert (got > 0).any()


def _scaled_filter_means_reference(act: torch.Tensor) -> torch.Tensor:
    """The pre-FilterMeans code, verbatim: ReLU'd float32 copy, then mean, min and max."""
    x = act.float()
    means = torch.relu(x).mean((2, 3))
    lo = x.amin((2, 3)).amin(1, keepdim=True).clamp_min(0)
    span = x.amax((2, 3)).amax(1, keepdim=True).clamp_min(0) - lo
    return torch.where(span > 0, (means - lo) / span.clamp_min(torch.finfo(span.dtype).tiny), 0.0)


@pytest.mark.parametrize("chunk", [1 << 19, 300, 1, 0])
def test_filter_means_is_bit_identical_and_reuses_its_buffer(chunk: int) -> None:
    """Chunked: whole tensor, chunks of two filter maps / one image (300 values), one row at a
    time; 0: the unchunked path (GPUs, CPUs with many threads), whole tensor in the buffer."""
    from kgfilters.stats import FilterMeans

    torch.manual_seed(0)
    reduce = FilterMeans(chunk_elements=chunk or 1, chunked_up_to_threads=1 << 20 if chunk else 0)
    big = torch.randn(6, 8, 12, 12)
    assert torch.equal(reduce(big), _scaled_filter_means_reference(big))
    ptr, size = reduce._flat.data_ptr(), reduce._flat.numel()
    cases = [torch.randn(3, 4, 5, 7), big[:2], torch.randn(6, 8, 12, 12).to(torch.bfloat16),
             torch.randn(2, 3, 6, 6, dtype=torch.float64), torch.randn(4, 8, 9, 9).to(torch.float16),
             torch.randn(5, 8, 12, 12).contiguous(memory_format=torch.channels_last),
             torch.randn(5, 6, 8, 8)[:, :, ::2, 1:], torch.full((2, 3, 4, 4), -1.0),
             torch.rand(3, 5, 4, 4) + 0.5]  # all positive: the layer minimum is not 0
    threads = torch.get_num_threads()
    for act in cases:
        assert torch.equal(reduce(act), _scaled_filter_means_reference(act)), (act.dtype, act.shape)
        assert torch.equal(scaled_filter_means(act), _scaled_filter_means_reference(act))
        assert torch.get_num_threads() == threads  # the single-threaded reduction restores it
    if chunk in (1 << 19, 0):
        assert reduce._flat.data_ptr() == ptr  # no layer was larger than the first: never reallocated
        reduce(torch.randn(7, 8, 12, 12))
        assert reduce._flat.numel() == 7 * 8 * 12 * 12
    else:
        assert size == max(1, chunk // 144) * 144  # one chunk of whole 12x12 maps, not the layer


class _Spy:
    """FilterMeans, counting which path each layer took."""

    def __init__(self, **kw) -> None:  # type: ignore[no-untyped-def]
        from kgfilters.stats import FilterMeans

        self.inner, self.calls, self.relu_calls = FilterMeans(**kw), 0, 0

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(t)

    def after_relu(self, t: torch.Tensor) -> torch.Tensor:
        self.relu_calls += 1
        assert (t >= 0).all()  # it is given the rectified values
        return self.inner.after_relu(t)


def _relu_net() -> nn.Sequential:
    """conv+ReLU(in place), conv+ReLU, conv+max-pool (no ReLU module after it), conv+ReLU last."""
    torch.manual_seed(5)
    return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(6, 5, 3), nn.ReLU(),
                         nn.Conv2d(5, 4, 1), nn.MaxPool2d(2), nn.Conv2d(4, 3, 3, padding=1),
                         nn.ReLU(inplace=True), nn.Flatten()).eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("chunked", [True, False])
def test_relu_output_gives_the_layer_output_means_bit_for_bit(dtype, channels_last, chunked) -> None:  # type: ignore[no-untyped-def]
    """A conv followed by an nn.ReLU (in place or not) is reduced from the ReLU's output: the same
    values bit for bit as from the conv's own output, in every dtype, layout and path."""
    from kgfilters.hooks import forward_until_captured

    net = _relu_net().to(dtype)
    x = torch.randn(7, 2, 12, 12, dtype=dtype)
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    kw = dict(chunk_elements=100) if chunked else dict(chunked_up_to_threads=0)
    layers = ["0", "2", "4", "6"]
    with torch.no_grad():
        with capture(net, layers, scaled_filter_means) as ref:  # the conv outputs, ReLU applied by the reduction
            net(x)
        ref = dict(ref)
        spy = _Spy(**kw)
        with capture(net, layers, spy, stop=True, after_relu=spy.after_relu) as got:
            forward_until_captured(net, x, got)
    assert (spy.relu_calls, spy.calls) == (3, 1)  # "4" is followed by a max-pool: its own output
    assert set(got) == set(layers)
    for name in layers:
        assert got[name].dtype == torch.float32
        assert torch.equal(got[name], ref[name]), name
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_relu_after_only_where_the_relu_certainly_gets_the_layer_output() -> None:
    from kgfilters.hooks import relu_after

    net = _relu_net()
    assert relu_after(net, "0") is net[1] and relu_after(net, "2") is net[3] and relu_after(net, "6") is net[7]
    assert relu_after(net, "4") is None and relu_after(net, "8") is None and relu_after(net, "") is None

    class Custom(nn.Sequential):  # its own forward: children need not run in order
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self[1](self[0](x) * 2)

    assert relu_after(nn.Sequential(Custom(nn.Conv2d(1, 1, 1), nn.ReLU())), "0.0") is None
    shared = nn.ReLU()  # one ReLU after two convs, or a conv used twice: not certain
    assert relu_after(nn.Sequential(nn.Conv2d(1, 1, 1), shared, nn.Conv2d(1, 1, 1), shared), "0") is None
    conv = nn.Conv2d(1, 1, 1)
    assert relu_after(nn.Sequential(conv, nn.ReLU(), conv, nn.ReLU()), "0") is None
    assert relu_after(nn.Sequential(nn.Conv2d(1, 1, 1), nn.LeakyReLU()), "0") is None

    class MyReLU(nn.ReLU):  # a subclass may do anything
        pass

    assert relu_after(nn.Sequential(nn.Conv2d(1, 1, 1), MyReLU()), "0") is None


def test_a_hook_after_ours_or_on_the_relu_keeps_the_layer_output_path() -> None:
    """A hook registered later on the conv (edit_output) or a pre-hook on the ReLU may change what
    the ReLU sees: the conv's output is reduced as it was returned, as without after_relu."""
    from kgfilters.hooks import edit_output

    net, x = _relu_net(), torch.randn(3, 2, 12, 12)
    with torch.no_grad():
        with capture(net, ["0"], scaled_filter_means) as ref:
            net(x)
        ref = dict(ref)
        spy = _Spy()
        with capture(net, ["0"], spy, after_relu=spy.after_relu) as got, edit_output(net, "0", lambda o: o * -1):
            net(x)
        assert torch.equal(got["0"], ref["0"]) and (spy.calls, spy.relu_calls) == (1, 0)
        h = net[1].register_forward_pre_hook(lambda m, inp: (inp[0] + 1,))
        try:
            spy = _Spy()
            with capture(net, ["0"], spy, after_relu=spy.after_relu) as got:
                net(x)
        finally:
            h.remove()
        assert torch.equal(got["0"], ref["0"]) and (spy.calls, spy.relu_calls) == (1, 0)


class _Odd(nn.Module):
    """Runs its Sequential's children by hand, with something in between."""

    def __init__(self, between) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        torch.manual_seed(2)
        self.seq, self.between = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU()), between

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq[1](self.between(self.seq[0](x)))


def test_another_tensor_at_the_relu_falls_back_and_an_in_place_change_is_an_error() -> None:
    x = torch.randn(2, 1, 6, 6)
    net = _Odd(lambda t: t + 1)  # the ReLU gets another tensor: the conv output is reduced
    with torch.no_grad():
        want = scaled_filter_means(net.seq[0](x))
        spy = _Spy()
        with capture(net, ["seq.0"], spy, after_relu=spy.after_relu) as got:
            net(x)
        assert torch.equal(got["seq.0"], want) and (spy.calls, spy.relu_calls) == (1, 0)
        net.forward = lambda t: net.seq[0](t).sum()  # the ReLU never runs: reduced as the pass ends
        spy = _Spy()
        with capture(net, ["seq.0"], spy, after_relu=spy.after_relu) as got:
            net(x)
        assert torch.equal(got["seq.0"], want) and (spy.calls, spy.relu_calls) == (1, 0)
        net = _Odd(lambda t: t.mul_(2))  # the same tensor, changed in place: its values are gone
        with pytest.raises(RuntimeError, match=r"layer seq\.0: its output was changed in place"), \
                capture(net, ["seq.0"], spy, after_relu=spy.after_relu):
            net(x)
    assert not net.seq[0]._forward_hooks and not net.seq[1]._forward_hooks and not net._forward_hooks
