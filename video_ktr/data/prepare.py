"""Unpack the archives of a downloaded Video-R1-data folder in place (zips / tarballs next to the JSON files).

Every member's destination is checked to stay inside the archive's folder (no ``../`` or absolute paths, no links
out of it); an unsafe archive is refused whole, before anything from it is written. A marker file
``.<archive>.unpacked`` makes re-runs skip what was already unpacked.
"""
from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


@dataclass
class Unpacked:
    """What happened to one archive. status: "unpacked" | "already unpacked" | "refused" | "failed"."""

    archive: Path
    status: str
    num_files: int = 0
    num_bytes: int = 0
    message: str = ""


def find_archives(folder: Path) -> list[Path]:
    """Zip and tar archives anywhere under ``folder``, sorted."""
    found = [p for p in folder.rglob("*") if p.is_file() and (p.suffix == ".zip" or p.name.endswith(TAR_SUFFIXES))]
    return sorted(found)


def _inside(dest: Path, name: str) -> bool:
    target = (dest / name).resolve()
    return target == dest or target.is_relative_to(dest)


def _marker(archive: Path) -> Path:
    return archive.with_name(f".{archive.name}.unpacked")


def unpack_zip(archive: Path, dest: Path) -> tuple[int, int]:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        bad = [i.filename for i in infos if Path(i.filename).is_absolute() or not _inside(dest, i.filename)]
        if bad:
            raise PermissionError(f"{archive}: refusing to unpack, members escape {dest}: {bad[:5]}")
        zf.extractall(dest)
        files = [i for i in infos if not i.is_dir()]
        return len(files), sum(i.file_size for i in files)


def unpack_tar(archive: Path, dest: Path) -> tuple[int, int]:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        bad = [m.name for m in members if not _inside(dest, m.name)
               or ((m.issym() or m.islnk()) and not _inside(dest, str(Path(m.name).parent / m.linkname)))]
        if bad:
            raise PermissionError(f"{archive}: refusing to unpack, members escape {dest}: {bad[:5]}")
        tf.extractall(dest, filter="data")  # the stdlib "data" filter also rejects devices and odd permissions
        files = [m for m in members if m.isfile()]
        return len(files), sum(m.size for m in files)


def prepare_folder(folder: str | Path, *, force: bool = False) -> list[Unpacked]:
    """Unpack every archive under ``folder`` next to itself; return one ``Unpacked`` per archive."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory; pass the downloaded Video-R1-data folder")
    results = []
    for archive in find_archives(folder):
        dest = archive.parent.resolve()
        if _marker(archive).exists() and not force:
            results.append(Unpacked(archive, "already unpacked", message="use --force to unpack again"))
            continue
        unpack = unpack_zip if archive.suffix == ".zip" else unpack_tar
        try:
            num_files, num_bytes = unpack(archive, dest)
        except PermissionError as e:
            results.append(Unpacked(archive, "refused", message=str(e)))
            continue
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
            results.append(Unpacked(archive, "failed", message=f"{archive}: {type(e).__name__}: {e}"))
            continue
        _marker(archive).write_text(f"{num_files} files\n")
        results.append(Unpacked(archive, "unpacked", num_files, num_bytes))
    return results
