"""Baselines (a) and (b): the classic "Flask + Keras" design the project grew from.

(a) BENCH_LOAD_PER_REQUEST=1: the tutorial as written -- `load_model` inside the request
    handler, the image resized to 28x28 as it is, no MNIST framing.
(b) BENCH_LOAD_PER_REQUEST=0: the same, with the model loaded once at start-up.
Recording is left out (it would only slow these down). Lives in its own venv; never imported
by the project.
"""

import io
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402
from PIL import Image  # noqa: E402

MODEL_PATH = os.environ["BENCH_KERAS_MODEL"]
PER_REQUEST = os.environ.get("BENCH_LOAD_PER_REQUEST") == "1"

app = Flask(__name__)
_model = None if PER_REQUEST else keras.models.load_model(MODEL_PATH)


@app.route("/predict", methods=["POST"])
def predict():
    model = keras.models.load_model(MODEL_PATH) if PER_REQUEST else _model
    raw = request.files["file"].read() if request.files else request.get_data()
    img = Image.open(io.BytesIO(raw)).convert("L").resize((28, 28))
    x = (np.asarray(img, dtype=np.float32) / 255.0).reshape(1, 28, 28, 1)
    probs = model.predict(x, verbose=0)[0]
    return jsonify({"digit": int(probs.argmax()), "confidence": float(probs.max())})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), threaded=True)
