"""Parity of the convolution layers with real Keras, through the layer harness.

`CASES` covers every code path (each padding mode, asymmetric "same", strides, dilation, groups,
depth_multiplier, output_padding, both data formats, odd and even sizes); `SWEEP` (slow) runs the
full cross product of padding x strides x dilation x data_format x size that Keras allows. The
torch.compile (fullgraph) check, ~1 s a case, runs on one case of each code path.
"""

import itertools

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras
from layer_harness import LayerCase, parametrize_cases, rand

CF, CL = "channels_first", "channels_last"


def image(rank, size, channels, data_format, seed=0, batch=2):
    spatial = (size,) * rank if isinstance(size, int) else tuple(size)
    shape = (batch, channels, *spatial) if data_format == CF else (batch, *spatial, channels)
    return rand(*shape, seed=seed)


def conv_case(cid, cls, rank, size=7, channels=4, data_format=CL, compile=False, **kwargs):
    kwargs = {"data_format": data_format, **kwargs}
    return LayerCase(cid, cls, kwargs, image(rank, size, channels, data_format), compile=compile)


CASES = [
    # Conv1D / Conv2D / Conv3D
    conv_case("conv1d_valid", "Conv1D", 1, filters=3, kernel_size=3),
    conv_case("conv1d_same_s2_even", "Conv1D", 1, compile=True, size=8, filters=3, kernel_size=3,
              strides=2, padding="same", bias_initializer="random_normal"),
    conv_case("conv1d_causal_d2", "Conv1D", 1, compile=True, filters=3, kernel_size=3,
              dilation_rate=2, padding="causal", bias_initializer="random_normal"),
    conv_case("conv1d_causal_cf_s2", "Conv1D", 1, data_format=CF, filters=2, kernel_size=2,
              strides=2, padding="causal"),
    conv_case("conv1d_groups", "Conv1D", 1, channels=6, filters=4, kernel_size=3, groups=2,
              padding="same", use_bias=False),
    conv_case("conv2d_valid_relu", "Conv2D", 2, filters=5, kernel_size=3, activation="relu",
              bias_initializer="random_normal"),
    conv_case("conv2d_same_s2_odd", "Conv2D", 2, compile=True, filters=3, kernel_size=3, strides=2,
              padding="same"),
    conv_case("conv2d_same_even_kernel", "Conv2D", 2, size=(6, 5), filters=3, kernel_size=(2, 4),
              padding="same", bias_initializer="random_normal"),
    conv_case("conv2d_same_dilated_cf", "Conv2D", 2, data_format=CF, filters=3, kernel_size=3,
              dilation_rate=(2, 1), padding="same"),
    conv_case("conv2d_groups_cf", "Conv2D", 2, compile=True, data_format=CF, channels=6, filters=6,
              kernel_size=(3, 2), groups=3, strides=(2, 1), padding="same"),
    conv_case("conv2d_regularized", "Conv2D", 2, filters=2, kernel_size=1,
              kernel_regularizer="l2", bias_regularizer="l1", activity_regularizer="l2",
              kernel_constraint="max_norm", bias_constraint="non_neg"),
    conv_case("conv2d_lora", "Conv2D", 2, compile=True, filters=3, kernel_size=3, lora_rank=2),
    conv_case("conv3d_valid", "Conv3D", 3, size=5, channels=2, filters=3, kernel_size=2),
    conv_case("conv3d_same_s2_cf", "Conv3D", 3, compile=True, size=(5, 4, 3), channels=2,
              data_format=CF, filters=2, kernel_size=3, strides=2, padding="same",
              bias_initializer="random_normal"),
    conv_case("convolution2d_alias", "Convolution2D", 2, filters=2, kernel_size=2),
    # Transposed convolutions
    conv_case("conv1dt_valid", "Conv1DTranspose", 1, filters=3, kernel_size=3),
    conv_case("conv1dt_valid_stride_gt_kernel", "Conv1DTranspose", 1, filters=2, kernel_size=2,
              strides=3, bias_initializer="random_normal"),
    conv_case("conv1dt_same_s2_odd_k", "Conv1DTranspose", 1, filters=3, kernel_size=3,
              strides=2, padding="same", bias_initializer="random_normal"),
    conv_case("conv1dt_same_even_k", "Conv1DTranspose", 1, compile=True, filters=3, kernel_size=4,
              padding="same"),
    conv_case("conv1dt_same_output_padding", "Conv1DTranspose", 1, filters=2, kernel_size=3,
              strides=3, padding="same", output_padding=2),
    conv_case("conv1dt_dilated_cf", "Conv1DTranspose", 1, data_format=CF, filters=2,
              kernel_size=3, dilation_rate=2, padding="same"),
    conv_case("conv2dt_same_s2", "Conv2DTranspose", 2, compile=True, size=(4, 5), filters=3,
              kernel_size=3, strides=2, padding="same", activation="tanh",
              bias_initializer="random_normal"),
    conv_case("conv2dt_valid_output_padding_cf", "Conv2DTranspose", 2, data_format=CF,
              filters=2, kernel_size=(3, 2), strides=(2, 3), output_padding=(1, 2)),
    conv_case("conv2dt_same_k1_s3_op2", "Conv2DTranspose", 2, size=4, filters=2, kernel_size=1,
              strides=3, padding="same", output_padding=(2, 0),
              bias_initializer="random_normal"),
    conv_case("conv3dt_same_s2", "Conv3DTranspose", 3, size=3, channels=2, filters=2,
              kernel_size=2, strides=2, padding="same", bias_initializer="random_normal"),
    conv_case("conv3dt_valid_cf", "Conv3DTranspose", 3, size=(3, 2, 4), channels=2,
              data_format=CF, filters=2, kernel_size=(2, 3, 2), output_padding=0),
    # Depthwise
    conv_case("dwconv1d_same_s2_dm2", "DepthwiseConv1D", 1, size=8, kernel_size=3, strides=2,
              padding="same", depth_multiplier=2, bias_initializer="random_normal"),
    conv_case("dwconv1d_valid_cf_dilated", "DepthwiseConv1D", 1, data_format=CF, kernel_size=2,
              dilation_rate=3),
    conv_case("dwconv2d_valid", "DepthwiseConv2D", 2, kernel_size=3),
    conv_case("dwconv2d_same_s2_dm3_cf", "DepthwiseConv2D", 2, compile=True, size=(6, 7),
              data_format=CF, kernel_size=(3, 2), strides=2, padding="same", depth_multiplier=3,
              activation="relu6", bias_initializer="random_normal"),
    conv_case("dwconv2d_regularized", "DepthwiseConv2D", 2, kernel_size=2,
              depthwise_regularizer="l2", depthwise_constraint="unit_norm", use_bias=False),
    # Separable
    conv_case("sepconv1d_same_dm2", "SeparableConv1D", 1, filters=5, kernel_size=3,
              padding="same", depth_multiplier=2, bias_initializer="random_normal"),
    conv_case("sepconv1d_valid_s2_cf", "SeparableConv1D", 1, data_format=CF, size=8, filters=3,
              kernel_size=2, strides=2),
    conv_case("sepconv2d_same_s2", "SeparableConv2D", 2, compile=True, filters=3, kernel_size=3,
              strides=2, padding="same", activation="relu", bias_initializer="random_normal"),
    conv_case("sepconv2d_dilated_cf", "SeparableConvolution2D", 2, data_format=CF, size=8,
              filters=2, kernel_size=3, dilation_rate=2, depth_multiplier=2,
              pointwise_regularizer="l1", use_bias=False),
]


def _sweep():
    cases = []
    layouts = [(1, 1), (2, 1), (1, 2), (3, 1)]  # (strides, dilation); Keras forbids s>1 with d>1
    for cls, rank, paddings in [("Conv1D", 1, ["valid", "same", "causal"]),
                                ("Conv2D", 2, ["valid", "same"]),
                                ("DepthwiseConv2D", 2, ["valid", "same"]),
                                ("SeparableConv1D", 1, ["valid", "same"])]:
        for padding, (s, d), df, size, k in itertools.product(
                paddings, layouts, [CL, CF], [7, 8], [2, 3]):
            cid = f"{cls}_{padding}_s{s}_d{d}_{df[9:]}_n{size}_k{k}"
            kwargs = {"kernel_size": k, "strides": s, "dilation_rate": d, "padding": padding,
                      "bias_initializer": "random_normal"}
            if cls != "DepthwiseConv2D":
                kwargs["filters"] = 3
            cases.append(conv_case(cid, cls, rank, size=size, data_format=df, **kwargs))
    for padding, s, d, op, df, k in itertools.product(
            ["valid", "same"], [1, 2, 3], [1, 2], [None, 0, 1, 2], [CL, CF], [2, 3]):
        if (s > 1 and d > 1) or (op is not None and op >= s):
            continue
        cid = f"Conv1DTranspose_{padding}_s{s}_d{d}_op{op}_{df[9:]}_k{k}"
        cases.append(conv_case(cid, "Conv1DTranspose", 1, size=5, data_format=df, filters=2,
                               kernel_size=k, strides=s, dilation_rate=d, padding=padding,
                               output_padding=op, bias_initializer="random_normal"))
    return cases


SWEEP = _sweep()

test_conv_layer_parity = requires_keras(parametrize_cases(CASES))
test_conv_layer_sweep = pytest.mark.slow(requires_keras(parametrize_cases(SWEEP)))


def test_channels_last_conv_runs_on_a_view_of_the_input():
    """The NHWC input reaches F.conv2d as a channels_last NCHW view (no copy of the input)."""
    import tkeras

    layer = tkeras.layers.Conv2D(4, 3, padding="same")
    x = torch.randn(2, 9, 9, 3)
    layer(x)
    seen = {}
    from tkeras.layers.convolutional import conv_utils

    original = conv_utils.CONV[2]

    def spy(inp, *args, **kwargs):
        seen["input"] = inp
        return original(inp, *args, **kwargs)

    conv_utils.CONV[2] = spy
    try:
        out = layer(x)
    finally:
        conv_utils.CONV[2] = original
    assert seen["input"].data_ptr() == x.data_ptr()
    assert seen["input"].is_contiguous(memory_format=torch.channels_last)
    assert out.shape == (2, 9, 9, 4)


def test_symbolic_output_shapes_match_eager():
    import tkeras

    for case in CASES:
        layer = getattr(tkeras.layers, case.cls)(**case.kwargs)
        x = torch.as_tensor(np.asarray(case.inputs))
        out = layer(x)
        assert tuple(layer.compute_output_shape(tuple(x.shape))) == tuple(out.shape), case.id


@pytest.mark.parametrize("cls,kwargs,match", [
    ("Conv2D", {"filters": 0, "kernel_size": 3}, "filters"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 3}, "divisible"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "dilation"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, "padding"),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2},
     "output_padding"),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 0}, "depth_multiplier"),
    ("Conv2D", {"filters": 4, "kernel_size": (3, 3, 3)}, "kernel_size"),
])
def test_invalid_arguments_raise(cls, kwargs, match):
    import tkeras

    with pytest.raises(ValueError, match=match):
        getattr(tkeras.layers, cls)(**kwargs)


def test_build_checks_groups_and_output_size():
    import tkeras

    with pytest.raises(ValueError, match="input channels"):
        tkeras.layers.Conv2D(4, 3, groups=2)(torch.randn(1, 5, 5, 3))
    with pytest.raises(ValueError, match="zero or negative"):
        tkeras.layers.Conv2D(4, 5)(torch.randn(1, 3, 3, 2))
