"""`data prepare` against hostile archives: bombs, limits, overwrites, link escapes, symlink chains, nesting."""
import io
import tarfile
import zipfile

from video_ktr.data.prepare import Limits, prepare_folder


def _tar_add(tf, name, data=b"x", kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.name.startswith("."))


def test_zip_bomb_and_limits_are_refused_before_writing(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", b"first")
        zf.writestr("zeros.bin", b"\0" * (32 << 20))          # 32 MiB of zeros: ~32 KB compressed
    (res,) = prepare_folder(tmp_path)
    assert res.status == "refused" and "zip bomb" in res.message
    assert _files(tmp_path) == ["bomb.zip"]                    # not even the harmless first member
    (tmp_path / "bomb.zip").unlink()
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zf:
        for i in range(5):
            zf.writestr(f"f{i}.txt", b"0123456789")
    (res,) = prepare_folder(tmp_path, limits=Limits(max_members=4))
    assert res.status == "refused" and "max-members" in res.message
    (res,) = prepare_folder(tmp_path, limits=Limits(max_bytes=40))
    assert res.status == "refused" and "max-gb" in res.message
    assert _files(tmp_path) == ["many.zip"]
    (res,) = prepare_folder(tmp_path)
    assert res.status == "unpacked" and res.num_files == 5


def test_never_overwrites_an_existing_file(tmp_path):
    (tmp_path / "train.json").write_text('[{"problem_id": 1}]')
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("videos/v.mp4", b"video")
        zf.writestr("train.json", b"[]")
    (res,) = prepare_folder(tmp_path)
    assert res.status == "refused" and "would overwrite" in res.message
    assert (tmp_path / "train.json").read_text() == '[{"problem_id": 1}]' and not (tmp_path / "videos").exists()


def test_hardlink_escape_refused_before_any_member_is_written(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    with tarfile.open(folder / "a.tar", "w") as tf:
        _tar_add(tf, "ok.txt", b"fine")
        _tar_add(tf, "x/y/link", kind=tarfile.LNKTYPE, linkname="../secret.txt")
        _tar_add(tf, "dev", kind=tarfile.CHRTYPE)
    (res,) = prepare_folder(folder)
    assert res.status == "refused" and "x/y/link" in res.message and "dev" in res.message
    assert _files(folder) == ["a.tar"]


def test_links_become_copies_no_symlink_chain_left(tmp_path):
    with tarfile.open(tmp_path / "a.tar", "w") as tf:
        _tar_add(tf, "d/f.txt", b"content")
        _tar_add(tf, "d/l1", kind=tarfile.SYMTYPE, linkname="f.txt")
        _tar_add(tf, "d/l2", kind=tarfile.SYMTYPE, linkname="l1")
        _tar_add(tf, "hard", kind=tarfile.LNKTYPE, linkname="d/f.txt")
    (res,) = prepare_folder(tmp_path)
    assert res.status == "unpacked", res.message
    for name in ("d/l1", "d/l2", "hard"):
        assert not (tmp_path / name).is_symlink() and (tmp_path / name).read_bytes() == b"content"
    assert not [p for p in tmp_path.rglob("*") if p.is_symlink()]


def test_nested_archives_only_when_asked(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep.txt", b"deep")
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as zf:
        zf.writestr("inner.zip", inner.getvalue())
    assert [r.status for r in prepare_folder(tmp_path)] == ["unpacked"]
    assert [r.archive.name for r in prepare_folder(tmp_path)] == ["outer.zip"]   # rerun: inner.zip not touched
    assert not (tmp_path / "deep.txt").exists()
    res = {r.archive.name: r.status for r in prepare_folder(tmp_path, nested=True)}
    assert res == {"outer.zip": "already unpacked", "inner.zip": "unpacked"}
    assert (tmp_path / "deep.txt").read_bytes() == b"deep"
    # --force reruns keep the files (same size = already there) and overwrite nothing
    assert [r.status for r in prepare_folder(tmp_path, force=True)] == ["unpacked"]
