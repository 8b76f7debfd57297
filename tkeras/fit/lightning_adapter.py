"""Train a compiled tkeras model under `lightning.Trainer`.

`KerasLightningModule(model)` runs the model's compiled loss (plus regularization losses) in
`training_step`/`validation_step`, logs `loss`/`val_loss` and the compiled metrics, and lets
Lightning step a torch optimizer that applies the Keras optimizer's rule: gradients computed by
Lightning's backward are handed to `model.optimizer.apply`. The model's trainable weights are
the ones snapshotted by `compile()`. tkeras layers can equally be used inside any
LightningModule of your own (they are `nn.Module`s).

    model.compile(optimizer="adam", loss="mse")
    lightning.Trainer(max_epochs=3).fit(KerasLightningModule(model), train_loader)
"""

import lightning
import torch

from tkeras.fit.data import unpack_x_y_sample_weight


class _KerasRuleOptimizer(torch.optim.Optimizer):
    """A torch optimizer whose `step()` applies the Keras optimizer to the current grads."""

    def __init__(self, keras_optimizer, variables):
        super().__init__(variables, {})
        self.keras_optimizer = keras_optimizer
        self.variables = list(variables)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = [v.grad for v in self.variables]
        if any(g is not None for g in grads):
            self.keras_optimizer.apply(grads, self.variables)
        return loss


class KerasLightningModule(lightning.LightningModule):
    def __init__(self, model):
        super().__init__()
        if not model.compiled:
            raise ValueError("Compile the model before wrapping it in KerasLightningModule.")
        self.model = model

    def forward(self, x):
        return self.model(x)

    def _loss(self, batch, training):
        x, y, sample_weight = unpack_x_y_sample_weight(tuple(batch) if isinstance(
            batch, list) else batch)
        self.model._clear_losses()
        y_pred = self.model._call_model(x, training)
        loss = self.model._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                        training=training)
        if self.model._compile_metrics is not None:
            self.model._compile_metrics.update_state(y, y_pred, sample_weight)
        return loss

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch, True)
        self.log("loss", loss.detach(), prog_bar=True)
        return self.model.optimizer.scale_loss(loss)

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch, False)
        self.log("val_loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_start(self):
        self.model.reset_metrics()

    def on_train_epoch_end(self):
        compiled = self.model._compile_metrics
        if compiled is not None and compiled.built:
            for name, metric in compiled.named_metrics():
                value = metric.result()
                if isinstance(value, torch.Tensor) and value.numel() == 1:
                    self.log(name, value)

    def configure_optimizers(self):
        from tkeras.fit.trainer import TorchOptimizer

        optimizer = self.model.optimizer
        if isinstance(optimizer, TorchOptimizer):
            return optimizer.torch_optimizer
        variables = self.model._trainable_snapshot()
        if not optimizer.built:
            optimizer.build(variables)
        return _KerasRuleOptimizer(optimizer, variables)
