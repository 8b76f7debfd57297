"""fit / evaluate / predict / save on torch-xla's CPU device: one device, or GSPMD over
CPU_NUM_DEVICES devices.

    PJRT_DEVICE=CPU python xla_fit.py single OUT.json
    PJRT_DEVICE=CPU CPU_NUM_DEVICES=2 python xla_fit.py spmd OUT.json
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import numpy as np  # noqa: E402

import tkeras as keras  # noqa: E402


def main(mode, out):
    devices = [f"tpu:{i}" for i in range(keras.distribution.get_device_count("tpu"))]
    if mode == "single":
        distribution = keras.distribution.DataParallel(devices=devices[:1])
    else:
        mesh = keras.distribution.DeviceMesh((1, len(devices)), ("batch", "model"), devices)
        distribution = keras.distribution.ModelParallel(layout_map=common.mlp_layout_map(mesh))
    keras.distribution.set_distribution(distribution)
    x, y = common.data()
    model = common.mlp(optimizer="adam")  # Adam, loss "mse", metrics ["mae"]
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    evaluate = model.evaluate(x, y, batch_size=16, verbose=0)
    predict = model.predict(x, verbose=0)
    path = os.path.join(os.path.dirname(out), "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    import torch_xla

    with open(out, "w") as f:
        json.dump({"devices": devices, "device": str(model.weights[0].device),
                   "sharding": torch_xla._XLAC._get_xla_sharding_spec(model.weights[0]),
                   "weights": {w.path.split("/", 1)[1]: w.detach().cpu().numpy().tolist()
                               for w in model.weights},
                   "history": history.history, "evaluate": evaluate,
                   "predict": np.asarray(predict).tolist(),
                   "reloaded_predict": np.asarray(reloaded.predict(x, verbose=0)).tolist()}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
