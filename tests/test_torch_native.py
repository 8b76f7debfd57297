"""tkeras layers and models are ordinary torch modules."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import tkeras as keras
from tkeras import layers


def mlp():
    return keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu"),
                             layers.Dropout(0.1), layers.Dense(3)])


def test_state_dict_round_trip_and_keys():
    from tkeras.core import naming

    naming.reset_names()  # a fresh process builds the same names
    a = mlp()
    naming.reset_names()
    b = mlp()
    keys = list(a.state_dict())
    assert keys == ["dense.kernel", "dense.bias", "dense_1.kernel", "dense_1.bias"]
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 8)
    torch.testing.assert_close(a(x), b(x))


def test_to_dtype_keeps_keras_variables():
    model = mlp()
    model.to(torch.float64)
    kernel = model.layers[0].kernel
    assert kernel.dtype == torch.float64 and kernel.path.endswith("/kernel")
    assert model.weights[0] is kernel
    assert model(torch.randn(2, 8, dtype=torch.float64)).dtype == torch.float64


def test_deepcopy_keeps_metadata():
    model = mlp()
    clone = copy.deepcopy(model)
    assert [w.path for w in clone.weights] == [w.path for w in model.weights]
    assert all(a is not b for a, b in zip(clone.weights, model.weights))


def test_torch_compile_fullgraph_mlp():
    model = mlp()
    x = torch.randn(4, 8)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x))


def test_torch_compile_fullgraph_cnn():
    model = keras.Sequential([keras.Input((8, 8, 3)),
                              layers.Conv2D(8, 3, padding="same", activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(4, 3), layers.Flatten(),
                              layers.Dense(10)])
    x = torch.randn(4, 8, 8, 3)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x))


def test_plain_torch_optimizer_trains_a_tkeras_model():
    torch.manual_seed(0)
    model = mlp()
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first
    # The Keras view of the weights is the same tensors torch updated.
    assert model.trainable_weights[0] is model.layers[0].kernel
    assert {id(p) for p in model.parameters()} == {id(w) for w in model.weights}


def test_lazy_layer_inside_user_module_builds_on_first_call():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = layers.Dense(4, activation="relu")
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            return self.head(self.body(x))

    net = Net()
    net(torch.randn(2, 6))
    names = [n for n, _ in net.named_parameters()]
    assert "body.kernel" in names and "head.weight" in names
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = net.body.kernel.detach().clone()
    net(torch.randn(2, 6)).sum().backward()
    opt.step()
    assert not torch.equal(before, net.body.kernel.detach())


def test_tkeras_layers_in_a_lightning_module():
    import lightning as L

    class Lit(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"),
                                         layers.Dense(1)])

        def training_step(self, batch, _):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x.sum(1, keepdim=True)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    lit = Lit()
    before = nn.functional.mse_loss(lit.net(x), y).item()
    trainer = L.Trainer(max_epochs=5, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(lit, data)
    assert nn.functional.mse_loss(lit.net(x), y).item() < before


def test_input_spec_error_names_the_layer():
    model = mlp()
    with pytest.raises(ValueError, match=model.layers[0].name):
        model.layers[0](torch.randn(2, 5))


def test_numpy_inputs_are_accepted_and_cast():
    model = mlp()
    out = model(np.ones((2, 8)))  # float64 numpy -> float32 compute
    assert out.dtype == torch.float32
