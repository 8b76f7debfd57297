"""keras.random: the same values as Keras's torch backend (CPU) for integer seeds and
SeedGenerators, and Keras's seed semantics."""

import numpy as np
import pytest
import torch

from keras_oracle import requires_keras
from keras_oracle import run_keras

import tkeras
from tkeras import random

# Each program runs the same calls with `r` = keras.random / tkeras.random, `ops` their ops.
PROGRAM = """
g = r.SeedGenerator(7)
g_big = r.SeedGenerator(2**31 - 1)
results = {
    "normal": r.normal((3, 4), seed=42),
    "normal_args": r.normal((5,), mean=2.0, stddev=0.5, seed=-3),
    "normal_f16": r.normal((4,), dtype="float16", seed=11),
    "uniform": r.uniform((2, 3), seed=3),
    "uniform_range": r.uniform((6,), minval=-2.0, maxval=5.0, seed=2**33 + 5),
    "uniform_scalar": r.uniform((), seed=8),
    "randint": r.randint((4, 2), 0, 10, seed=5),
    "randint_i64": r.randint((3,), -50, 50, dtype="int64", seed=5),
    "truncated_normal": r.truncated_normal((50,), seed=1),
    "truncated_args": r.truncated_normal((4,), mean=1.0, stddev=3.0, seed=1),
    "gen_1": r.normal((2,), seed=g),
    "gen_2": r.normal((2,), seed=g),
    "gen_3": r.uniform((2,), seed=g),
    "gen_big_1": r.normal((2,), seed=g_big),
    "gen_big_2": r.normal((2,), seed=g_big),
    "gen_state": g.state,
    "categorical": r.categorical(ops.convert_to_tensor(np.log([[0.2, 0.8], [0.5, 0.5]])), 5,
                                 seed=2),
    "categorical_i64": r.categorical(ops.convert_to_tensor([[1.0, 2.0, 3.0]]), 4,
                                     dtype="int64", seed=2),
    "dropout": r.dropout(ops.ones((3, 4)), 0.5, seed=9),
    "dropout_noise_shape": r.dropout(ops.ones((2, 3, 4)), 0.3, noise_shape=(2, 1, 4), seed=9),
    "dropout_gen": r.dropout(ops.ones((3, 4)), 0.25, seed=r.SeedGenerator(3)),
    "shuffle": r.shuffle(ops.convert_to_tensor(np.arange(10)), seed=4),
    "shuffle_axis1": r.shuffle(ops.convert_to_tensor(np.arange(12).reshape(3, 4)), axis=1, seed=4),
    "gamma": r.gamma((4,), 2.0, seed=1),
    "binomial": r.binomial((4,), 5, 0.3, seed=1),
    "beta": r.beta((4,), 2.0, 3.0, seed=1),
}
"""

KERAS_CODE = "r = keras.random\nops = keras.ops\n" + PROGRAM + """
for k, v in results.items():
    outputs[k] = keras.ops.convert_to_numpy(v)
    outputs[k + "/dtype"] = keras.ops.dtype(v)
"""


@pytest.fixture(scope="module")
def reference():
    return run_keras(KERAS_CODE)


@pytest.fixture(scope="module")
def ours():
    scope = {"r": random, "ops": tkeras.ops, "np": np}
    exec(PROGRAM, scope)
    return scope["results"]


NAMES = ["normal", "normal_args", "normal_f16", "uniform", "uniform_range", "uniform_scalar",
         "randint", "randint_i64", "truncated_normal", "truncated_args", "gen_1", "gen_2",
         "gen_3", "gen_big_1", "gen_big_2", "gen_state", "categorical", "categorical_i64",
         "dropout", "dropout_noise_shape", "dropout_gen", "shuffle", "shuffle_axis1", "gamma",
         "binomial", "beta"]


@requires_keras
@pytest.mark.parametrize("name", NAMES)
def test_values_equal_keras(name, reference, ours):
    got = ours[name]
    assert tkeras.ops.dtype(got) == reference[name + "/dtype"]
    np.testing.assert_array_equal(tkeras.ops.convert_to_numpy(got), reference[name])


def test_integer_seed_is_stateless_and_generator_advances():
    a = random.normal((3,), seed=5)
    assert torch.equal(a, random.normal((3,), seed=5))
    g = random.SeedGenerator(5)
    first, second = random.normal((3,), seed=g), random.normal((3,), seed=g)
    assert torch.equal(first, a)  # the generator's first draw is the integer seed's draw
    assert not torch.equal(first, second)
    assert g.state.tolist() == [5, 2]


def test_unseeded_draws_differ_and_global_generator_state_is_scrambled():
    gen = random.global_seed_generator()
    before = gen.state.tolist()
    x, y = random.uniform((4,)), random.uniform((4,))
    assert not torch.equal(x, y)
    assert gen.state.tolist() != before


def test_seed_generator_config_and_validation():
    g = random.SeedGenerator(seed=3, name="my_gen")
    assert g.get_config() == {"seed": 3, "name": "my_gen"}
    g2 = random.SeedGenerator.from_config(g.get_config())
    assert g2.state.tolist() == [3, 0] and not g2.state.trainable
    with pytest.raises(ValueError):
        random.SeedGenerator(seed=1.5)
    with pytest.raises(ValueError):
        random.normal((2,), seed="x")
    with pytest.raises(ValueError):
        random.uniform((2,), dtype="int32")
    with pytest.raises(ValueError):
        random.randint((2,), 0, 3, dtype="float32")
    with pytest.raises(ValueError):
        random.categorical(torch.zeros(3), 2)


def test_distribution_draws_restore_torch_global_state():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    random.gamma((5,), 1.5, seed=3)
    random.beta((5,), 1.0, 2.0, seed=3)
    assert torch.equal(torch.rand(3), expected)


def test_dropout_rates():
    x = torch.ones(4, 5)
    assert torch.equal(random.dropout(x, 0.0), x)
    assert torch.equal(random.dropout(x, 1.0), torch.zeros_like(x))
    y = random.dropout(x, 0.5)  # unseeded: torch's fused dropout
    assert set(y.unique().tolist()) <= {0.0, 2.0}
