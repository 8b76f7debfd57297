"""`keras.datasets.reuters`: `get_word_index` (JSON) and `get_label_names` work; `load_data`
is refused (`reuters.npz` holds object arrays of Python lists, readable only by unpickling)."""

import json

from tkeras.datasets._common import ORIGIN_FOLDER, refuse_pickle
from tkeras.utils.file_utils import get_file

WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"

_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing",
    "money-supply", "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass",
    "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum",
    "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
    "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """Raises ValueError: tkeras does not unpickle `reuters.npz`."""
    raise refuse_pickle("reuters", "object arrays of Python lists (reuters.npz)")


def get_word_index(path="reuters_word_index.json"):
    """The word -> index dict (`reuters_word_index.json` from the cache, downloaded if
    missing)."""
    path = get_file(path, origin=f"{ORIGIN_FOLDER}reuters_word_index.json",
                    file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, indexed like the labels."""
    return _LABEL_NAMES
