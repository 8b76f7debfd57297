"""Distillation losses: how a teacher's outputs (or features) are matched by the student's.

Keras 3 behaviour kept, including its quirks: a loss given as a string resolves to the loss
*function* (`"kl_divergence"` -> `kl_divergence`), so `LogitsDistillation`'s softmax and
`temperature**2` factor only apply to a `KLDivergence` *instance*; the default
`loss="kl_divergence"` compares the temperature-scaled logits directly, as in Keras.
"""

from tkeras import ops
from tkeras import tree
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.fit import losses


def _convert_loss_to_function(loss_item):
    """A loss identifier (string), instance or function; `None` stays `None`."""
    if loss_item is None:
        return None
    if isinstance(loss_item, str):
        loss_fn = losses.get(loss_item)
        if loss_fn is None:
            raise ValueError(f"Unknown loss function: '{loss_item}'.")
        return loss_fn
    return loss_item


def _sum_losses(loss_values):
    return ops.sum(ops.stack(tree.flatten(loss_values)))


@keras_export("keras.distillation.DistillationLoss")
class DistillationLoss:
    """Base class of distillation losses: subclasses implement `compute_loss`."""

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """The (scalar) distillation loss between teacher and student outputs."""
        raise NotImplementedError("Subclasses must implement compute_loss")

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Raise a ValueError when the two output structures differ."""
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher, student):
        """Raise a ValueError when this loss cannot be used with these models."""


@keras_export("keras.distillation.FeatureDistillation")
class FeatureDistillation(DistillationLoss):
    """Matches intermediate features (`teacher_layer_name` / `student_layer_name` outputs, or
    the final outputs when `None`) with `loss` (a loss or a nested structure of losses;
    `None` entries skip an output)."""

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = tree.map_structure(_convert_loss_to_function, loss)
        if all(l is None for l in tree.flatten(self.loss)):
            raise ValueError(
                "The `loss` argument in `FeatureDistillation` must contain at least one "
                "non-`None` value."
            )

    def validate_model_compatibility(self, teacher, student):
        if self.teacher_layer_name is not None or self.student_layer_name is not None:
            subclassed = [role for role, model in (("teacher", teacher), ("student", student))
                          if getattr(model, "inputs", None) is None]
            if subclassed:
                raise ValueError(
                    f"FeatureDistillation with specific layer names requires Functional or "
                    f"Sequential models. The {' and '.join(subclassed)} model(s) appear to be "
                    f"subclassed (no symbolic inputs/outputs). Either use Functional/Sequential "
                    f"models, or use FeatureDistillation without layer names (to distill final "
                    f"outputs only), or use LogitsDistillation instead."
                )
        for role, model, name in (("teacher", teacher, self.teacher_layer_name),
                                  ("student", student, self.student_layer_name)):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except ValueError as e:
                    raise ValueError(f"In {role} model: {e}") from None

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as e:
            raise ValueError(
                f"Loss structure mismatch. Loss structure: {self.loss}, Output structure: "
                f"{tree.map_structure(lambda _: '*', teacher_outputs)}. Error: {e}"
            ) from None

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        def apply_loss(loss_fn, teacher_features, student_features):
            if loss_fn is None:
                return 0.0
            return ops.mean(loss_fn(teacher_features, student_features))

        return _sum_losses(
            tree.map_structure(apply_loss, self.loss, teacher_outputs, student_outputs))

    def get_config(self):
        return {
            "loss": losses.serialize(self.loss),
            "teacher_layer_name": self.teacher_layer_name,
            "student_layer_name": self.student_layer_name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = losses.deserialize(config["loss"])
        return cls(**config)


@keras_export("keras.distillation.LogitsDistillation")
class LogitsDistillation(DistillationLoss):
    """Matches temperature-scaled logits; a `KLDivergence` instance compares the softmaxes and
    is scaled by `temperature**2`, any other loss sees the scaled logits."""

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        self.temperature = temperature
        self.loss = tree.map_structure(_convert_loss_to_function, loss)
        if all(l is None for l in tree.flatten(self.loss)):
            raise ValueError("At least one loss must be non-`None`.")
        if not isinstance(self.temperature, (int, float)):
            raise ValueError(f"temperature must be a number, got {type(self.temperature)}")
        if self.temperature <= 0.0:
            raise ValueError("temperature must be positive.")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        teacher_scaled = tree.map_structure(
            lambda x: ops.divide(x, self.temperature), teacher_outputs)
        student_scaled = tree.map_structure(
            lambda x: ops.divide(x, self.temperature), student_outputs)

        def apply_loss(loss_fn, teacher_logits, student_logits):
            if loss_fn is None:
                return 0.0
            if isinstance(loss_fn, losses.KLDivergence):
                teacher_probs = ops.softmax(teacher_logits, axis=-1)
                student_probs = ops.softmax(student_logits, axis=-1)
                loss = ops.mean(loss_fn(teacher_probs, student_probs))
                return loss * (self.temperature**2)
            return ops.mean(loss_fn(teacher_logits, student_logits))

        return _sum_losses(
            tree.map_structure(apply_loss, self.loss, teacher_scaled, student_scaled))

    def get_config(self):
        return {"temperature": self.temperature, "loss": serialize_keras_object(self.loss)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = losses.deserialize(config["loss"])
        return cls(**config)
