"""`Distiller`: a `Model` that trains a student from labels and a frozen teacher.

Keras 3 behaviour kept: the teacher is frozen (`trainable = False`) at construction; the
forward pass is the student's; `compile(loss=...)` takes the *student* loss (the model itself
is compiled without one) and `compute_loss` returns
`student_loss_weight * student_loss + (1 - student_loss_weight) * sum(w_i * distill_i)`,
ignoring `sample_weight` and `model.losses`, as Keras does. Layer-name features come from
functional extractors over the teacher/student graphs (the student's is run a second time in
training mode). `student_loss`, `distillation_loss` and `total_loss` are tracked as metrics.
"""

from tkeras import ops
from tkeras import tree
from tkeras.core.registry import deserialize_keras_object
from tkeras.core.registry import keras_export
from tkeras.core.registry import serialize_keras_object
from tkeras.distillation.distillation_loss import _convert_loss_to_function
from tkeras.fit import metrics
from tkeras.model.model import Model
from tkeras.model.sequential import Sequential


@keras_export("keras.distillation.Distiller")
class Distiller(Model):
    """Knowledge distillation from `teacher` (frozen) into `student` (trained)."""

    def __init__(self, teacher, student, distillation_losses, distillation_loss_weights=None,
                 student_loss_weight=0.5, name="distiller", **kwargs):
        super().__init__(name=name, **kwargs)
        self._validate_models(teacher, student)
        self.teacher = teacher
        self.student = student

        if not isinstance(student_loss_weight, (int, float)):
            raise ValueError(
                f"student_loss_weight must be a number, got {type(student_loss_weight)}")
        if student_loss_weight < 0.0 or student_loss_weight > 1.0:
            raise ValueError(
                f"student_loss_weight must be between 0.0 and 1.0, got {student_loss_weight}")
        self.student_loss_weight = student_loss_weight

        if distillation_losses is None:
            raise ValueError(
                "'distillation_losses' cannot be `None`. Provide a distillation loss (e.g., "
                "LogitsDistillation or FeatureDistillation) or a list of distillation losses.")
        if not isinstance(distillation_losses, (list, tuple)):
            distillation_losses = [distillation_losses]
            distillation_loss_weights = [1.0]
        elif distillation_loss_weights is None:
            distillation_loss_weights = [1.0] * len(distillation_losses)
        elif len(distillation_loss_weights) != len(distillation_losses):
            raise ValueError(
                f"Number of distillation_loss_weights ({len(distillation_loss_weights)}) must "
                f"match number of distillation_losses ({len(distillation_losses)})")
        self.distillation_losses = distillation_losses
        self.distillation_loss_weights = distillation_loss_weights

        for distillation_loss in self.distillation_losses:
            distillation_loss.validate_model_compatibility(teacher, student)
        self._create_multi_feature_extractors()

        self.teacher.trainable = False
        self.student_loss_tracker = metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics.Mean(name="total_loss")

    # ------------------------------------------------------------------ validation
    def _validate_models(self, teacher, student):
        for role, model in (("Teacher", teacher), ("Student", student)):
            if not isinstance(model, Model):
                raise ValueError(f"{role} must be a keras.Model, got {type(model)}")
        for attr, context in (("inputs", "input"), ("outputs", "output")):
            t, s = getattr(teacher, attr, None), getattr(student, attr, None)
            if t is not None and s is not None:
                tree.map_structure(
                    lambda a, b: _assert_shapes_are_compatible(a.shape, b.shape, context), t, s)
        if getattr(teacher, "inputs", None) is None or getattr(student, "inputs", None) is None:
            return
        for attr, context in (("inputs", "input"), ("outputs", "output")):
            t, s = getattr(teacher, attr, None), getattr(student, attr, None)
            if t is None or s is None:
                return
            tree.map_structure(lambda a, b: _assert_same_dtype(a.dtype, b.dtype, context), t, s)

    # ------------------------------------------------------------------ feature extraction
    def _create_multi_feature_extractors(self):
        teacher_names, student_names = [], []
        for loss in self.distillation_losses:
            for attr, names in (("teacher_layer_name", teacher_names),
                                ("student_layer_name", student_names)):
                name = getattr(loss, attr, None)
                if name and name not in names:
                    names.append(name)
        self._teacher_feature_extractor = _create_feature_extractor(self.teacher, teacher_names)
        self._student_feature_extractor = _create_feature_extractor(self.student, student_names)

    def _extract_all_teacher_features(self, x):
        if self._teacher_feature_extractor is not None:
            return self._teacher_feature_extractor(x, training=False)
        return {"final_output": self.teacher(x, training=False)}

    def _extract_all_student_features(self, x, y_pred):
        if self._student_feature_extractor is not None:
            return self._student_feature_extractor(x, training=True)
        return {"final_output": y_pred}

    def _get_distillation_loss_features(self, distillation_loss, all_features, is_teacher):
        attr = "teacher_layer_name" if is_teacher else "student_layer_name"
        layer_name = getattr(distillation_loss, attr) or "final_output"
        if layer_name not in all_features:
            raise ValueError(
                f"Layer '{layer_name}' not found in extracted features. "
                f"Available: {list(all_features.keys())}")
        return all_features[layer_name]

    # ------------------------------------------------------------------ training
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`loss` is the student's supervised loss (required); the model is compiled without
        a loss, so `compute_loss` below is the training objective."""
        if loss is None:
            raise ValueError("'loss' cannot be `None`.")
        self._student_loss = tree.map_structure(_convert_loss_to_function, loss)
        self._student_loss_for_serialization = loss
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(f"metrics must be a list or tuple, got {type(metrics)}")
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def call(self, inputs, training=None, **kwargs):
        return self.student(inputs, training=training, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        student_loss = 0.0
        if self.student_loss_weight > 0.0 and y is not None:
            flat_losses = tree.flatten(tree.map_structure(
                lambda l, o, o_pred: l(o, o_pred), self._student_loss, y, y_pred))
            student_loss = (ops.sum(ops.stack(flat_losses)) if len(flat_losses) > 1
                            else flat_losses[0])
            if len(getattr(student_loss, "shape", ())) > 0:
                student_loss = ops.mean(student_loss)

        distillation_loss = 0.0
        if self.student_loss_weight < 1.0:
            teacher_features = self._extract_all_teacher_features(x)
            student_features = self._extract_all_student_features(x, y_pred)
            for loss_fn, weight in zip(self.distillation_losses, self.distillation_loss_weights):
                if getattr(loss_fn, "teacher_layer_name", None) is not None:
                    try:
                        teacher_out = self._get_distillation_loss_features(
                            loss_fn, teacher_features, is_teacher=True)
                        student_out = self._get_distillation_loss_features(
                            loss_fn, student_features, is_teacher=False)
                    except ValueError as e:
                        raise RuntimeError(
                            f"Failed to extract features for {type(loss_fn).__name__} "
                            f"targeting teacher layer '{loss_fn.teacher_layer_name}' and "
                            f"student layer '{loss_fn.student_layer_name}'. "
                            f"Original error: {e}") from e
                else:
                    teacher_out = teacher_features["final_output"]
                    student_out = y_pred
                loss_fn.validate_outputs(teacher_out, student_out)
                current = loss_fn.compute_loss(teacher_out, student_out)
                if len(getattr(current, "shape", ())) > 0:
                    raise ValueError(
                        f"Distillation loss {type(loss_fn).__name__} returned a non-scalar loss "
                        f"with shape {current.shape}. The compute_loss method must return a "
                        f"scalar tensor.")
                distillation_loss = ops.add(distillation_loss, ops.multiply(weight, current))

        total_loss = ops.add(
            ops.multiply(self.student_loss_weight, student_loss),
            ops.multiply(ops.subtract(1.0, self.student_loss_weight), distillation_loss))
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total_loss)
        return total_loss

    def reset_metrics(self):
        super().reset_metrics()
        self.student_loss_tracker.reset_state()
        self.distillation_loss_tracker.reset_state()
        self.total_loss_tracker.reset_state()

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.update({
            "teacher": serialize_keras_object(self.teacher),
            "student": serialize_keras_object(self.student),
            "distillation_losses": [serialize_keras_object(l)
                                    for l in self.distillation_losses],
            "distillation_loss_weights": self.distillation_loss_weights,
            "student_loss_weight": self.student_loss_weight,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["teacher"] = deserialize_keras_object(config["teacher"])
        config["student"] = deserialize_keras_object(config["student"])
        config["distillation_losses"] = [deserialize_keras_object(l)
                                         for l in config["distillation_losses"]]
        return cls(**config)


def _assert_shapes_are_compatible(shape1, shape2, context):
    if len(shape1) != len(shape2):
        raise ValueError(
            f"Teacher and student {context} shapes have different dimensions. "
            f"Teacher: {shape1}, Student: {shape2}.")
    for dim1, dim2 in zip(shape1, shape2):
        if dim1 is not None and dim2 is not None and dim1 != dim2:
            raise ValueError(
                f"Teacher and student {context} shapes are incompatible. "
                f"Teacher: {shape1}, Student: {shape2}. All dimensions must match.")


def _assert_same_dtype(teacher_dtype, student_dtype, context):
    if teacher_dtype != student_dtype:
        raise ValueError(
            f"Teacher and student {context} dtypes must match. "
            f"Teacher: {teacher_dtype}, Student: {student_dtype}.")


def _create_feature_extractor(model, layer_names):
    """A functional model returning `{"final_output": ..., name: layer output, ...}`, or `None`
    when no layer is named."""
    if not layer_names:
        return None
    if getattr(model, "inputs", None) is None:
        raise ValueError(
            f"Cannot create feature extractor for {model.name}. "
            f"The model has no symbolic inputs attribute.")
    final_output = model.layers[-1].output if isinstance(model, Sequential) else model.output
    outputs = {"final_output": final_output}
    for layer_name in layer_names:
        outputs[layer_name] = model.get_layer(name=layer_name).output
    return Model(inputs=model.inputs, outputs=outputs,
                 name=f"{model.name}_multi_feature_extractor")
