"""The network: a small VGG-style CNN, cheaper than the classic tutorial's and more accurate.

The tutorial's net (Conv32 5x5 -> Conv64 5x5 -> MaxPool -> Dense128) costs ~21.8 M multiply-adds
per image. This one uses 3x3 'valid' convolutions with batch normalisation (folded into the
convolutions at conversion, so it is free at inference) and costs well under half of that.
"""

from __future__ import annotations

import keras
from keras import layers

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)


def _conv_bn_relu(x: keras.KerasTensor, filters: int, name: str, momentum: float) -> keras.KerasTensor:
    # No bias: the following batch norm has its own shift.
    x = layers.Conv2D(filters, 3, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_model(dropout: float = 0.3, bn_momentum: float = 0.99) -> keras.Model:
    """bn_momentum: Keras' 0.99 for real runs; smoke runs of a few dozen steps use 0.9 so the
    moving statistics have caught up by the time the model is evaluated."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = _conv_bn_relu(inputs, 32, "b1c1", bn_momentum)  # 26x26
    x = _conv_bn_relu(x, 32, "b1c2", bn_momentum)  # 24x24
    x = layers.MaxPooling2D(2, name="b1_pool")(x)  # 12x12
    x = layers.Dropout(dropout / 2, name="b1_drop")(x)
    x = _conv_bn_relu(x, 64, "b2c1", bn_momentum)  # 10x10
    x = _conv_bn_relu(x, 64, "b2c2", bn_momentum)  # 8x8
    x = layers.MaxPooling2D(2, name="b2_pool")(x)  # 4x4
    x = layers.Dropout(dropout, name="b2_drop")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, use_bias=False, name="fc1")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="fc1_bn")(x)
    x = layers.ReLU(name="fc1_relu")(x)
    x = layers.Dropout(dropout, name="fc1_drop")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_cnn")


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds per image of the convolution and dense layers (the whole cost that matters)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, oh, ow, _ = layer.output.shape
            total += int(kh * kw * cin * cout * oh * ow)
        elif isinstance(layer, layers.Dense):
            cin, cout = layer.kernel.shape
            total += int(cin * cout)
    return total


def build_group_model(classes: int, dropout: float = 0.3) -> keras.Model:
    """The group model (train/groups.py): a group of ink at 28x56 -> one digit, a pair, or more.
    'same' convolutions with a pooling after each keep the cost near the digit model's
    (~13 M multiply-adds; a 4-convolution variant at 30 M took 470 s an epoch here)."""
    inputs = keras.Input(shape=(28, 56, 1), name="image")
    x = inputs
    for i, filters in enumerate((32, 64, 96), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"g{i}_conv")(x)
        x = layers.BatchNormalization(name=f"g{i}_bn")(x)
        x = layers.ReLU(name=f"g{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"g{i}_pool")(x)  # 14x28, 7x14, 3x7
    x = layers.Dropout(dropout * 0.8, name="g_drop")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(192, use_bias=False, name="fc1")(x)
    x = layers.BatchNormalization(name="fc1_bn")(x)
    x = layers.ReLU(name="fc1_relu")(x)
    x = layers.Dropout(dropout, name="fc1_drop")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_groups")
