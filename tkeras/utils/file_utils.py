"""`get_file`: fetch a file into the Keras cache, check its hash, extract archives safely.

Keras behaviour kept: the cache is `<cache_dir or keras_home()>/<cache_subdir>/<fname>`, falling
back to `/tmp/.keras/<cache_subdir>` when the cache dir is not writable; a cached file is reused
unless `force_download=True` or its hash does not match `file_hash` (then it is fetched again);
`file_hash` is sha256 (64 hex digits) or md5 (`hash_algorithm="auto"`); with `extract=True` the
archive is saved as `<fname>` (name with an extension) or `<fname>_archive` and extracted into
`<fname without extension>_extracted` or `<fname>`, whose path is returned.

Deliberate differences (safer or more useful than Keras):
- a `cache_dir` that does not exist yet is created; Keras falls back to `/tmp/.keras` for it
  (its writability check fails on a missing directory). The fallback is kept for existing
  directories that are not writable and for directories that cannot be created.
- the download goes to a temporary file in the cache dir, is hash-checked there, and only then
  renamed into place: an interrupted or corrupted download never lands in the cache. A hash
  mismatch is a ValueError naming the origin and the file.
- `origin` may also be a local path (Keras accepts URLs only, `file://` included).
- archive members that would land outside the extraction dir (absolute paths, `..`, links
  pointing outside, hard links to outside files) and special files (devices, FIFOs) are skipped
  with a warning naming them; each member is checked against the files already extracted, so a
  symlink extracted first cannot redirect a later member. Keras skips the same paths; tkeras also
  skips special files (Keras's `filter="data"` raises on them).
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

from tkeras.core import config
from tkeras.utils.io_utils import print_msg


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Return the local path of `origin`, fetching it into the cache first if needed."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    origin = os.fspath(origin)
    if cache_dir is None:
        cache_dir = config.keras_home()
    if md5_hash is not None and file_hash is None:
        file_hash = md5_hash
        hash_algorithm = "md5"
    datadir_base = os.path.expanduser(os.fspath(cache_dir))
    try:
        os.makedirs(datadir_base, exist_ok=True)
    except OSError:
        pass  # not creatable: use the fallback below
    if not os.access(datadir_base, os.W_OK):
        datadir_base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(),
                                    ".keras")
    datadir = os.path.join(datadir_base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    provided_fname = fname
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"Can't parse the file name from the origin provided: '{origin}'."
                "Please specify the `fname` argument."
            )
    elif os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify the file's "
            f"parent directory, use the `cache_dir` argument. Received: fname={fname}"
        )
    if fname in (".", ".."):
        raise ValueError(f"Invalid `fname`: {fname!r}")

    if extract or untar:
        if provided_fname and "." in fname:
            download_target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            download_target = os.path.join(datadir, f"{fname}_archive")
    else:
        download_target = os.path.join(datadir, fname)

    download = force_download or not os.path.exists(download_target)
    if not download and file_hash is not None:
        if not validate_file(download_target, file_hash, algorithm=hash_algorithm):
            print_msg(
                "A local file was found, but it seems to be incomplete or outdated because the "
                f"{hash_algorithm} file hash does not match the original value of {file_hash} "
                "so we will re-download the data."
            )
            download = True
    if download:
        print_msg(f"Downloading data from {origin}")
        _fetch(origin, download_target, file_hash, hash_algorithm)

    if extract or untar:
        if untar:
            archive_format = "tar"
        if not extract_archive(download_target, extraction_dir, archive_format):
            warnings.warn("Could not extract archive.", stacklevel=2)
        return extraction_dir
    return download_target


def _fetch(origin, target, file_hash, hash_algorithm):
    """Copy/download `origin` to a temp file next to `target`, check it, then rename it."""
    fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(target),
                                    prefix=f".{os.path.basename(target)}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            if len(urllib.parse.urlsplit(origin).scheme) <= 1:  # a local path (or C:\\...)
                with open(origin, "rb") as src:
                    shutil.copyfileobj(src, out)
            else:
                try:
                    with urllib.request.urlopen(origin) as src:
                        shutil.copyfileobj(src, out)
                except urllib.error.HTTPError as e:
                    raise Exception(f"URL fetch failure on {origin}: {e.code} -- {e.msg}") from e
                except urllib.error.URLError as e:
                    raise Exception(
                        f"URL fetch failure on {origin}: {e.errno} -- {e.reason}") from e
        if file_hash is not None and not validate_file(tmp_path, file_hash, hash_algorithm):
            algorithm = resolve_hasher(hash_algorithm, file_hash).name
            raise ValueError(
                f"Incomplete or corrupted file detected: {origin} (for {target}). The "
                f"{algorithm} file hash does not match the provided value of {file_hash}."
            )
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes it 0600; a download would not be
        os.replace(tmp_path, target)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def resolve_hasher(algorithm, file_hash=None):
    """sha256 for "sha256" (or "auto" with a 64-digit hash), else md5 (Keras)."""
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None
                                 and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath, algorithm="sha256", chunk_size=65535):
    hasher = resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    hasher = resolve_hasher(algorithm, file_hash)
    return str(hash_file(fpath, hasher, chunk_size)) == str(file_hash)


# ----------------------------------------------------------------------------- archives


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extract a tar (incl. .tar.gz/.tar.bz2/.tar.xz) or zip archive into `path`.

    Returns True if `file_path` matched one of `archive_format` ("auto" = ["tar", "zip"]) and was
    extracted. Members that would be written outside `path` are skipped with a warning.
    """
    if archive_format is None:
        return False
    if archive_format == "auto":
        archive_format = ["tar", "zip"]
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    file_path, path = os.fspath(file_path), os.fspath(path)
    for archive_type in archive_format:
        if archive_type == "tar":
            is_match, extract = tarfile.is_tarfile, _extract_tar
        elif archive_type == "zip":
            is_match, extract = zipfile.is_zipfile, _extract_zip
        else:
            raise NotImplementedError(archive_type)
        if is_match(file_path):
            os.makedirs(path, exist_ok=True)
            try:
                extract(file_path, path)
            except (tarfile.TarError, zipfile.BadZipFile, RuntimeError, KeyboardInterrupt):
                if os.path.isfile(path):
                    os.remove(path)
                elif os.path.exists(path):
                    shutil.rmtree(path)
                raise
            return True
    return False


def _inside(base, path):
    """`path` resolved (following every symlink that exists now) if it is inside `base`."""
    resolved = os.path.realpath(os.path.join(base, path))
    return resolved if os.path.commonpath([resolved, base]) == base else None


def _skip(name, why):
    warnings.warn(f"Skipping invalid path during archive extraction: '{name}' ({why}).",
                  stacklevel=3)


def _safe_tar_member(member, base):
    """`member` if extracting it now cannot write outside `base`, else None (with a warning)."""
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return _skip(member.name, "special file")
    if os.path.isabs(member.name) or _inside(base, member.name) is None:
        return _skip(member.name, "outside the extraction directory")
    if member.islnk() and (os.path.isabs(member.linkname)
                           or _inside(base, member.linkname) is None):
        return _skip(member.name, "hard link to a file outside the extraction directory")
    # A symlink replaces whatever is at its path and resolves from its (real) parent dir.
    parent = os.path.realpath(os.path.dirname(os.path.join(base, member.name)))
    if member.issym() and (os.path.isabs(member.linkname) or _inside(base, parent) is None
                           or _inside(base, os.path.join(parent, member.linkname)) is None):
        return _skip(member.name, "symbolic link pointing outside the extraction directory")
    return member


def _extract_tar(file_path, path):
    base = os.path.realpath(path)
    # The "data" filter (Python >= 3.10.12 / 3.11.4) is a second line of defence: it also drops
    # setuid bits and rejects anything it considers unsafe.
    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(file_path) as archive:
        for member in archive:
            if _safe_tar_member(member, base) is not None:
                archive.extract(member, base, set_attrs=not member.isdir(), **kwargs)
    # Links checked one by one can still combine into an escape ("a" -> "x/..", then "x" -> ".");
    # nothing was written through them (every member is checked when extracted), and this pass
    # removes them so that nothing extracted points outside `base`.
    for root, dirs, files in os.walk(base):
        for name in dirs + files:
            link = os.path.join(root, name)
            if os.path.islink(link) and _inside(base, link) is None:
                _skip(os.path.relpath(link, base), "symbolic link pointing outside the "
                      "extraction directory")
                os.unlink(link)


def _extract_zip(file_path, path):
    base = os.path.realpath(path)
    with zipfile.ZipFile(file_path) as archive:
        for info in archive.infolist():
            if os.path.isabs(info.filename) or _inside(base, info.filename) is None:
                _skip(info.filename, "outside the extraction directory")
            else:
                archive.extract(info, base)
