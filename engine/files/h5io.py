"""HDF5 plumbing for fragrisk's output files: atomic writes and netCDF-4 dimension scales.

- ``check_output_path``  refuse an existing file (unless overwrite), a folder, a missing folder.
- ``atomic_path``        a context manager yielding a temporary path in the destination folder,
                         moved onto the destination (os.replace) only when the block succeeds;
                         removed on any error.  Nothing is half-written.  ``atomic_h5`` (an
                         h5py.File) and ``atomic_write_text`` build on it.
- ``NetCDFDimensions``   makes coordinate variables and dimension-only scales the way the
                         netCDF-4 library does (``_Netcdf4Dimid``, the "not a variable" marker),
                         so that ``xarray.open_dataset(path, engine="h5netcdf")`` reads the
                         file as netCDF-4 without warnings.

The results, fragments and ephemeris writers all use these helpers, so their refusals read alike.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError, one_line

#: What the netCDF-4 library writes into the scale of a dimension without a coordinate variable
#: (followed by the length in 10 characters).
NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable."


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False,
                      what: str = "a file") -> Path:
    """Return ``path`` as a Path if a file may be written there, else raise InputError (one
    line): an empty name, an existing path without ``overwrite``, a folder, a folder that does
    not exist or is a file, or a folder this process cannot create files in (read-only,
    permissions: tried by creating and removing an empty file there)."""
    text = os.fspath(path)
    if not text or "\0" in text:
        raise InputError(f"{text!r}: not a file name; expected {what} path")
    path = Path(text)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected {what} path")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise InputError(f"{path}: exists; use --overwrite to replace it")
    folder = path.parent
    if not folder.is_dir():
        if folder.exists() or any(p.exists() and not p.is_dir() for p in folder.parents):
            raise InputError(f"{path}: {_file_in_path(folder)} is a file, not a folder")
        raise InputError(f"{path}: folder {str(folder)!r} does not exist")
    check_writable_folder(folder, path)
    return path


def _file_in_path(folder: Path) -> str:
    """The first component of ``folder`` that exists and is not a folder."""
    for p in reversed((folder, *folder.parents)):
        if p.exists() and not p.is_dir():
            return repr(str(p))
    return repr(str(folder))


def check_writable_folder(folder: Path, path: Path | None = None) -> None:
    """InputError unless this process can create a file in ``folder``: tried, since permission
    bits do not tell (root ignores them; a read-only mount does not show in them)."""
    probe = folder / f".fragrisk-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InputError(f"{path if path is not None else folder}: cannot write in folder "
                         f"{str(folder)!r}: {exc.strerror or one_line(exc)}") from None
    os.close(fd)
    try:
        probe.unlink()
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False,
                what: str = "a file") -> Iterator[Path]:
    """``with atomic_path(path) as tmp: <write tmp>`` makes ``tmp`` (a fresh name in the same
    folder) become ``path`` only when the block ends without error (os.replace); ``tmp`` is
    removed on any error. OSErrors become InputError "<path>: cannot write: ..."."""
    path = check_output_path(path, overwrite=overwrite, what=what)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise InputError(f"{path}: cannot write: {one_line(exc)}") from exc
        raise


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike, *, overwrite: bool = False,
              what: str = "a file") -> Iterator[Any]:
    """``with atomic_h5(path) as f: ...`` fills an empty h5py.File that becomes ``path`` only
    when the block ends without error (see atomic_path)."""
    import h5py

    with atomic_path(path, overwrite=overwrite, what=what) as tmp:
        with h5py.File(tmp, "w-") as f:
            yield f


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = False,
                      what: str = "a file") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see atomic_path); return the path."""
    with atomic_path(path, overwrite=overwrite, what=what) as tmp:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


class NetCDFDimensions:
    """Dimensions of one open h5py.File, numbered in creation order as netCDF-4 numbers them.

    ``coordinate(name, data, units, long_name, **attrs)``  a 1-D coordinate variable
    ``dimension(name, n)``                                  a dimension without a variable
    ``variable(name, data, dims, units, long_name, **kw)``  a data variable on those dimensions
    """

    def __init__(self, f: Any):
        self.f = f
        self.scales: dict[str, Any] = {}

    def _scale(self, ds: Any, dim: str, scale_name: bytes | str) -> Any:
        ds.make_scale(scale_name)
        ds.attrs["_Netcdf4Dimid"] = np.int32(len(self.scales))
        self.scales[dim] = ds
        return ds

    def coordinate(self, name: str, data: Any, units: str, long_name: str, *,
                   dtype: Any = None, **attrs: Any) -> Any:
        ds = self.f.create_dataset(name, data=data, dtype=dtype)
        self._scale(ds, name, name)
        set_attrs(ds, units, long_name, **attrs)
        return ds

    def dimension(self, name: str, n: int) -> Any:
        ds = self.f.create_dataset(name, shape=(n,), dtype=">f4")
        return self._scale(ds, name, NOT_A_VARIABLE + f"{n:10d}".encode("ascii"))

    def variable(self, name: str, data: Any, dims: tuple[str, ...], units: str | None,
                 long_name: str, *, attrs: dict | None = None, **create_kw: Any) -> Any:
        ds = self.f.create_dataset(name, data=data, **create_kw)
        if ds.ndim != len(dims):
            raise ValueError(f"variable {name!r} has {ds.ndim} dimensions, named {dims}")
        for i, dim in enumerate(dims):
            ds.dims[i].attach_scale(self.scales[dim])
        set_attrs(ds, units, long_name, **(attrs or {}))
        return ds


def set_attrs(ds: Any, units: str | None, long_name: str, **extra: Any) -> Any:
    """CF ``units`` (left out where None, e.g. for flags and names) and ``long_name``."""
    if units is not None:
        ds.attrs["units"] = units
    ds.attrs["long_name"] = long_name
    for key, value in extra.items():
        ds.attrs[key] = value
    return ds
