"""Atomic saving: write next to the target, then `os.replace`.

A crash (or an exception) mid-save leaves the previous file untouched and removes the partial
temp file; readers never see a half-written model.
"""

import contextlib
import os
import shutil
import tempfile


def _prepare(path):
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    return path, directory


@contextlib.contextmanager
def atomic_file(path):
    """Yield a binary file opened for writing; on success it replaces `path`."""
    path, directory = _prepare(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp file path (for writers that open by name, like h5py)."""
    path, directory = _prepare(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temp directory; on success it takes the place of directory `path`."""
    path, directory = _prepare(path)
    tmp = tempfile.mkdtemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        yield tmp
        if os.path.isdir(path):
            old = tempfile.mkdtemp(dir=directory, prefix=f".{os.path.basename(path)}.old.")
            os.rmdir(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
