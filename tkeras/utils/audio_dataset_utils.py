"""`audio_dataset_from_directory`: a batched dataset of `.wav` files (and labels).

Keras behaviour kept: arguments, defaults and checks; files indexed as Keras does (same order,
labels, `class_names`, and `validation_split` subsets for a seed); 16-bit PCM samples scaled to
float32 in `[-1, 1)` (`tf.audio.decode_wav`), shape `(samples, channels)`;
`output_sequence_length` crops or zero-pads each file; without it a batch is zero-padded to its
longest file and most channels (`padded_batch`). The dataset has `class_names`.

Deliberate differences: returns a `BatchDataset` (NumPy batches, a `keras.utils.PyDataset`);
WAV files are read with the standard-library `wave` module (16-bit PCM only, like
`tf.audio.decode_wav`); `ragged=True` yields each batch's audio as a list of arrays of their own
lengths (PyTorch has no ragged tensor); `sampling_rate` (resampling, which Keras does with
tensorflow-io) raises NotImplementedError. With `shuffle=True` the first epoch follows the
NumPy-shuffled file order (Keras shuffles once more in a TensorFlow buffer).
"""

import wave

import numpy as np

from tkeras.utils import dataset_utils

ALLOWED_FORMATS = (".wav",)


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False, verbose=True):
    """WAV files from the class subdirectories of `directory`; `subset="both"` returns
    `(training, validation)`."""
    dataset_utils.check_labels_args(labels, label_mode, class_names, "audio")
    if ragged and output_sequence_length is not None:
        raise ValueError("Cannot set both `ragged` and `output_sequence_length`")
    if sampling_rate is not None:
        if not isinstance(sampling_rate, int):
            raise ValueError("`sampling_rate` should have an integer value. Received: "
                             f"sampling_rate={sampling_rate}")
        if sampling_rate <= 0:
            raise ValueError("`sampling_rate` should be higher than 0. Received: "
                             f"sampling_rate={sampling_rate}")
        raise NotImplementedError(
            "tkeras does not resample audio (Keras uses tensorflow-io for `sampling_rate`). "
            "Resample the files beforehand, or pass `sampling_rate=None`.")
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
    dataset_utils.check_validation_split_arg(validation_split, subset, shuffle, seed)
    file_paths, labels, class_names, seed = dataset_utils.index_labeled_files(
        directory, labels, label_mode, class_names, ALLOWED_FORMATS, shuffle, seed, follow_links, verbose)

    def collate(samples):
        if isinstance(samples[0], tuple):
            audio, part_labels = zip(*samples)
            return _batch_audio(audio, ragged), np.stack(part_labels)
        return _batch_audio(samples, ragged)

    def build(paths, part_labels, part_shuffle):
        encoded = (None if label_mode is None else dataset_utils.encode_labels(
            part_labels, label_mode, len(class_names)))

        def load_sample(i):
            audio = read_wav(paths[i], output_sequence_length)
            return audio if encoded is None else (audio, encoded[i])

        dataset = dataset_utils.BatchDataset(load_sample, len(paths), batch_size=batch_size,
                                             collate=collate, shuffle=part_shuffle, seed=seed)
        dataset.class_names = class_names
        return dataset

    datasets = dataset_utils.split_and_build(
        directory, file_paths, labels, validation_split, subset, shuffle, build,
        "audio files", f"Allowed format(s): {ALLOWED_FORMATS}")
    return tuple(datasets) if subset == "both" else datasets


def read_wav(path, output_sequence_length=None):
    """A 16-bit PCM WAV file as float32 `(samples, channels)` in `[-1, 1)`, cropped or
    zero-padded to `output_sequence_length` when given."""
    with wave.open(path, "rb") as f:
        if f.getsampwidth() != 2:
            raise ValueError(f"Can only read 16-bit WAV files, but {path} has "
                             f"{8 * f.getsampwidth()} bits per sample.")
        channels = f.getnchannels()
        frames = f.readframes(f.getnframes())
    audio = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype("float32") / 32768.0
    if output_sequence_length is not None:
        out = np.zeros((output_sequence_length, channels), dtype="float32")
        out[:min(len(audio), output_sequence_length)] = audio[:output_sequence_length]
        audio = out
    return audio


def _batch_audio(audio, ragged):
    if ragged:
        return list(audio)
    length = max(a.shape[0] for a in audio)
    channels = max(a.shape[1] for a in audio)
    out = np.zeros((len(audio), length, channels), dtype="float32")
    for row, a in enumerate(audio):
        out[row, :a.shape[0], :a.shape[1]] = a
    return out
