"""Data sets and sequence tools. Knows nothing of models or training.

Every loader reads a checked copy (see :mod:`lstmkit.data.sources`): the cache, the installed data package,
or a download; MNIST also tries its canonical files first.
"""

from .mnist import load_mnist
from .sequences import (WATCH_CLASSES, collate_padded, group_split, load_japanese_vowels, load_watch,
                        pad_sequences, parse_ts, stratified_split, train_val_test_split)
from .series import SERIES, Series, StandardScaler, load_series, load_sunspots_yearly, sliding_windows
from .sources import DataUnavailableError, data_home, packaged_files
from .text import Vocabulary, load_cmudict, load_rotten_tomatoes, load_shakespeare, markdown_play_to_text

__all__ = ["DataUnavailableError", "SERIES", "Series", "StandardScaler", "Vocabulary", "WATCH_CLASSES",
           "collate_padded", "data_home", "group_split", "load_cmudict", "load_japanese_vowels",
           "load_mnist", "load_rotten_tomatoes",
           "load_series", "load_shakespeare", "load_sunspots_yearly", "load_watch", "markdown_play_to_text",
           "pad_sequences", "packaged_files", "parse_ts", "sliding_windows", "stratified_split", "train_val_test_split"]
