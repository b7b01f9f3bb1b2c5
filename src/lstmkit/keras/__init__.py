"""Keras' namespace on lstmkit: a Keras LSTM program runs with only its import lines changed.

    import lstmkit.keras as keras              # instead of: import keras
    from lstmkit.keras import layers           # instead of: from keras import layers

>>> import lstmkit.keras as keras
>>> from lstmkit.keras import layers
>>> inputs = keras.Input(shape=(None,), dtype="int32")
>>> x = layers.Embedding(100, 16, mask_zero=True)(inputs)
>>> x = layers.Bidirectional(layers.LSTM(8))(x)
>>> model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
>>> model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy",
...               metrics=["accuracy"])
>>> x_train = keras.utils.pad_sequences([[5, 6, 7], [8, 9]], maxlen=4)  # Keras pads at the front
>>> x_train.tolist()
[[0, 5, 6, 7], [0, 0, 8, 9]]
>>> model.predict(x_train, verbose=0).shape
(2, 1)
"""

from ..models import Model, Sequential, load_model
from ..layers.functional import Input
from . import callbacks, layers, losses, metrics, models, optimizers, utils

__all__ = ["Input", "Model", "Sequential", "callbacks", "layers", "load_model", "losses", "metrics", "models",
           "optimizers", "utils"]
