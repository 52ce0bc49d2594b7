"""Unpack the archives of a downloaded Video-R1-data folder in place (zips / tarballs next to the JSON files).

Every member is checked before anything from its archive is written, and an unsafe archive is refused whole:
* destinations stay inside the archive's folder (no ``../``, absolute paths, or links out of it);
* no existing file is ever overwritten (a file of the member's exact size is taken as already unpacked and kept);
* limits on the total unpacked size, the member count and the compression ratio (zip bombs), configurable in
  ``Limits``; the unpacked size must also fit on the disk;
* only regular files and folders are written: a link to another member becomes a copy of that member (no symlinks
  or symlink chains are left on disk); devices, FIFOs and links out of the archive are refused;
* archives that came out of an archive are not unpacked unless asked (``nested=True``).
A marker file ``.<archive>.unpacked`` lists what was written and makes re-runs skip the archive.
"""
from __future__ import annotations

import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one archive may unpack to. The defaults fit the real Video-R1-data archives (videos barely compress)."""

    max_bytes: int = 2 * 1024**4          # total unpacked size of one archive (2 TiB)
    max_members: int = 2_000_000          # files + folders in one archive
    max_ratio: float = 200.0              # unpacked / compressed size, for members over 1 MiB (zip bombs: ~1000)


@dataclass
class Unpacked:
    """What happened to one archive. status: "unpacked" | "already unpacked" | "refused" | "failed"."""

    archive: Path
    status: str
    num_files: int = 0
    num_bytes: int = 0
    message: str = ""


@dataclass
class Member:
    """One archive entry, checked. kind: "dir" | "file" | "copy" (a link materialised as a copy of ``source``)."""

    name: str
    kind: str
    size: int = 0
    source: str | None = None
    info: object = None


class Refused(PermissionError):
    pass


def find_archives(folder: Path, *, nested: bool = False) -> list[Path]:
    """Zip and tar archives anywhere under ``folder``, sorted; without ``nested``, those an earlier unpack wrote are
    left out."""
    found = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
             and (p.suffix == ".zip" or p.name.endswith(TAR_SUFFIXES))]
    if not nested:
        written = {(m.parent / line).resolve() for m in folder.rglob(".*.unpacked")
                   for line in m.read_text().splitlines()[1:] if line}
        found = [p for p in found if p.resolve() not in written]
    return sorted(found)


def _marker(archive: Path) -> Path:
    return archive.with_name(f".{archive.name}.unpacked")


def _clean(name: str) -> str | None:
    """The member's normalised relative path, or None when it is absolute or climbs out (``..``)."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or any(part == ".." for part in p.parts) or ":" in (p.parts[0] if p.parts else ""):
        return None
    parts = [x for x in p.parts if x not in ("", ".")]
    return "/".join(parts) if parts else None


def zip_members(zf: zipfile.ZipFile, max_ratio: float) -> list[Member]:
    """Zip headers give both sizes: a big member compressed more than ``max_ratio`` times is marked a bomb."""
    out = []
    for info in zf.infolist():
        kind = "dir" if info.is_dir() else "file"
        if kind == "file" and info.file_size > CHUNK and info.file_size > max_ratio * max(info.compress_size, 1):
            kind = "bomb"
        out.append(Member(info.filename, kind, info.file_size, info=info))
    return out


def tar_members(tf: tarfile.TarFile) -> list[Member]:
    out = []
    for m in tf.getmembers():
        if m.isdir():
            out.append(Member(m.name, "dir", info=m))
        elif m.isfile():
            out.append(Member(m.name, "file", m.size, info=m))
        elif m.issym():  # relative to the link's folder
            out.append(Member(m.name, "copy", source=str(PurePosixPath(m.name).parent / m.linkname)
                              if not m.linkname.startswith("/") else "/" + m.linkname, info=m))
        elif m.islnk():  # relative to the archive root
            out.append(Member(m.name, "copy", source=m.linkname, info=m))
        else:
            out.append(Member(m.name, "special", info=m))
    return out


def check_members(members: list[Member], dest: Path, limits: Limits, archive_bytes: int) -> list[Member]:
    """Every member checked before anything is written; raise ``Refused`` listing the problems."""
    problems: list[str] = []
    if len(members) > limits.max_members:
        raise Refused(f"{len(members)} members, over the limit of {limits.max_members} (--max-members)")
    files: dict[str, Member] = {}
    seen: set[str] = set()
    for m in members:
        name = _clean(m.name)
        if name is None or not (dest / name).resolve().is_relative_to(dest):
            problems.append(f"{m.name} (escapes {dest})")
            continue
        if m.kind == "special":
            problems.append(f"{m.name} (a device, FIFO or other special file)")
            continue
        if m.kind == "bomb":
            problems.append(f"{m.name} (compression ratio over {limits.max_ratio:g}: a zip bomb?)")
            continue
        if name in seen and m.kind != "dir":
            problems.append(f"{m.name} (occurs twice in the archive)")
        seen.add(name)
        m.name = name
        if m.kind == "copy":
            src = _clean(m.source) if m.source and not m.source.startswith("/") else None
            target = files.get(src) if src else None
            if target is None:
                problems.append(f"{m.name} -> {m.source} (a link to something that is not an earlier regular file "
                                f"of the archive)")
                continue
            m.source, m.size = src, target.size
        if m.kind in ("file", "copy"):
            files[name] = m
            path = dest / name
            if path.is_symlink() or (path.exists() and not (path.is_file() and path.stat().st_size == m.size)):
                problems.append(f"{m.name} (would overwrite the existing {path})")
        elif (dest / name).exists() and not (dest / name).is_dir():
            problems.append(f"{m.name} (would replace the existing file {dest / name} by a folder)")
    total = sum(m.size for m in files.values())
    if total > limits.max_bytes:
        problems.append(f"unpacks to {total / 1e9:.2f} GB, over the limit of {limits.max_bytes / 1e9:.2f} GB "
                        f"(--max-gb)")
    if archive_bytes and total > CHUNK and total / archive_bytes > limits.max_ratio:
        problems.append(f"unpacks to {total / archive_bytes:.0f}x its size, over the ratio limit "
                        f"{limits.max_ratio:g} (a zip bomb?)")
    free = shutil.disk_usage(dest).free
    if total > free:
        problems.append(f"unpacks to {total / 1e9:.2f} GB but only {free / 1e9:.2f} GB are free on {dest}")
    if problems:
        raise Refused(f"refusing to unpack: {'; '.join(problems[:5])}"
                      + (f"; … {len(problems) - 5} more" if len(problems) > 5 else ""))
    return members


def _write(stream, path: Path, size: int, name: str) -> None:
    """Copy at most ``size`` bytes of ``stream`` to a new file ``path`` (a longer stream is a lying header)."""
    written = 0
    with path.open("xb") as f:  # "x": never overwrite
        while chunk := stream.read(CHUNK):
            written += len(chunk)
            if written > size:
                raise Refused(f"{name} holds more bytes than its header says ({size})")
            f.write(chunk)


def extract(archive: Path, dest: Path, members: list[Member], opener) -> tuple[list[str], int]:
    """Write the checked members; on any failure remove what this call wrote. Returns (written names, bytes)."""
    made: list[Path] = []
    names, total = [], 0
    try:
        for m in members:
            path = dest / m.name
            if m.kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
                continue
            if path.exists():  # checked: same size, taken as already unpacked
                names.append(m.name)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if m.kind == "copy":
                made.append(path)
                shutil.copyfile(dest / m.source, path)
            else:
                made.append(path)
                with opener(m) as stream:
                    _write(stream, path, m.size, m.name)
            names.append(m.name)
            total += m.size
    except BaseException:
        for p in made:
            p.unlink(missing_ok=True)
        raise
    return names, total


def unpack_zip(archive: Path, dest: Path, limits: Limits = Limits()) -> tuple[list[str], int]:
    with zipfile.ZipFile(archive) as zf:
        members = check_members(zip_members(zf, limits.max_ratio), dest, limits, archive.stat().st_size)
        return extract(archive, dest, members, lambda m: zf.open(m.info))


def unpack_tar(archive: Path, dest: Path, limits: Limits = Limits()) -> tuple[list[str], int]:
    with tarfile.open(archive) as tf:
        members = check_members(tar_members(tf), dest, limits, archive.stat().st_size)
        return extract(archive, dest, members, lambda m: tf.extractfile(m.info))


def prepare_folder(folder: str | Path, *, force: bool = False, limits: Limits = Limits(),
                   nested: bool = False) -> list[Unpacked]:
    """Unpack every archive under ``folder`` next to itself; return one ``Unpacked`` per archive."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a directory; pass the downloaded Video-R1-data folder")
    results = []
    for archive in find_archives(folder, nested=nested):
        dest = archive.parent.resolve()
        if _marker(archive).exists() and not force:
            results.append(Unpacked(archive, "already unpacked", message="use --force to unpack again"))
            continue
        unpack = unpack_zip if archive.suffix == ".zip" else unpack_tar
        try:
            names, num_bytes = unpack(archive, dest, limits)
        except Refused as e:
            results.append(Unpacked(archive, "refused", message=f"{archive}: {e}"))
            continue
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
            results.append(Unpacked(archive, "failed", message=f"{archive}: {type(e).__name__}: {e}"))
            continue
        _marker(archive).write_text(f"{len(names)} files\n" + "".join(n + "\n" for n in names))
        results.append(Unpacked(archive, "unpacked", len(names), num_bytes))
    return results
