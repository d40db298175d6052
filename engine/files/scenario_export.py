"""`fragrisk scenario export NAME DIR`: a built-in scenario and the element-set files it names,
copied into a folder, ready to edit and run.

A built-in names its element sets relative to its own folder (engine/data): copied alone, its
`tle_file` / `omm_file` paths point nowhere. The export writes NAME.toml unchanged beside a copy
of every file it names ([parent], [[targets]], [population]), so that the copy resolves them
the same way and runs to the same results as the built-in.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..scenario import builtin_data_text, builtin_names
from .h5io import atomic_write_text, check_output_path

__all__ = ["export_builtin", "referenced_files"]

_FILE_KEYS = ("tle_file", "omm_file")


def referenced_files(text: str, source: str) -> list[str]:
    """The element-set file names a scenario's TOML `text` gives, in order, each once."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {' '.join(str(exc).split())}") from None
    tables = [data.get("parent"), data.get("population"), *(data.get("targets") or [])]
    names: list[str] = []
    for table in tables:
        if isinstance(table, dict):
            for key in _FILE_KEYS:
                value = table.get(key)
                if isinstance(value, str) and value not in names:
                    names.append(value)
    return names


def export_builtin(name: str, folder: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
    """Write built-in scenario `name` as folder/<name>.toml with the element-set files it names
    beside it; return the written paths (the scenario first). The folder is created if missing;
    existing files are refused unless `overwrite`, before anything is written (InputError, one
    line)."""
    if name not in builtin_names():
        raise InputError(f"{name}: not a built-in scenario (built-ins: {', '.join(builtin_names())})")
    text = builtin_data_text(f"{name}.toml")
    files = referenced_files(text, f"{name} (built-in)")
    for f in files:  # a built-in's element sets lie beside it: plain names only
        p = PurePosixPath(f)
        if p.is_absolute() or len(p.parts) != 1:
            raise InputError(f"{name} (built-in): element-set file {f!r} is not a file beside the scenario")
    text_folder = os.fspath(folder)
    if not text_folder or "\0" in text_folder:
        raise InputError(f"{text_folder!r}: not a folder name")
    out = Path(text_folder)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    contents = [(out / f"{name}.toml", text)] + [(out / f, builtin_data_text(f)) for f in files]
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the folder ({exc.strerror or exc})") from None
    try:
        for path, _ in contents:
            check_output_path(path, overwrite=overwrite, what="a scenario file" if path.suffix == ".toml"
                              else "an element-set file")
        for path, content in contents:
            atomic_write_text(path, content, overwrite=overwrite)
    except BaseException:
        if made:
            for path, _ in contents:
                path.unlink(missing_ok=True)
            try:
                out.rmdir()
            except OSError:
                pass
        raise
    return [path for path, _ in contents]
