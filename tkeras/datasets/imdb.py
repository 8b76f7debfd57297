"""`keras.datasets.imdb`: `get_word_index` (JSON) works; `load_data` is refused (`imdb.npz`
holds object arrays of Python lists, readable only by unpickling)."""

import json

from tkeras.datasets._common import ORIGIN_FOLDER, refuse_pickle
from tkeras.utils.file_utils import get_file

WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
              oov_char=2, index_from=3, **kwargs):
    """Raises ValueError: tkeras does not unpickle `imdb.npz` (`**kwargs` are ignored, as in
    Keras)."""
    raise refuse_pickle("imdb", "object arrays of Python lists (imdb.npz)")


def get_word_index(path="imdb_word_index.json"):
    """The word -> index dict (`imdb_word_index.json` from the cache, downloaded if missing)."""
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}imdb_word_index.json",
                    file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return json.load(f)
