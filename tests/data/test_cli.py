import io
import json
import tarfile
import zipfile

from typer.testing import CliRunner

from video_ktr.cli.main import app

runner = CliRunner()


def test_check_toy_data_passes(toy_data):
    res = runner.invoke(app, ["data", "check", str(toy_data / "train.json")])
    assert res.exit_code == 0, res.output
    for word in ("data_type", "problem_type", "data_source", "multiple choice", "toy/motion", "missing", "corrupt"):
        assert word in res.output
    assert "all records valid" in res.output


def test_check_names_the_broken_records(toy_data, tmp_path):
    rows = json.loads((toy_data / "train.json").read_text())[:6]
    rows[2] = dict(rows[2], problem_type="essay")                        # invalid record
    rows[3] = dict(rows[3], path="./videos/missing_clip.mp4")            # missing media
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"\x00" * 64)
    rows[4] = dict(rows[4], data_type="video", path="./videos/broken.mp4")  # corrupt media
    data = tmp_path / "bad.json"
    data.write_text(json.dumps(rows))
    res = runner.invoke(app, ["data", "check", str(data), "--root", str(toy_data)])
    assert res.exit_code == 1, res.output
    out = res.output.replace("\n", "")
    assert f"problem_id={rows[2]['problem_id']}" in out and "'essay'" in out
    assert "missing_clip.mp4" in out and "broken.mp4" in out
    assert "3 bad records" in out
    # records only: the missing/corrupt media are not looked at, the schema error still fails
    res = runner.invoke(app, ["data", "check", str(data), "--root", str(toy_data), "--no-media"])
    assert res.exit_code == 1 and "1 bad records" in res.output


def test_check_unreadable_file(tmp_path):
    (tmp_path / "x.json").write_text("{oops")
    res = runner.invoke(app, ["data", "check", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "not valid JSON" in res.output


def _add_tar(tf, name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def test_prepare_unpacks_in_place_and_refuses_traversal(tmp_path):
    folder = tmp_path / "Video-R1-data"
    folder.mkdir()
    with zipfile.ZipFile(folder / "CLEVRER.zip", "w") as zf:
        zf.writestr("CLEVRER/video_1.mp4", b"abc")
        zf.writestr("CLEVRER/video_2.mp4", b"defg")
    (folder / "sub").mkdir()
    with tarfile.open(folder / "sub" / "imgs.tar.gz", "w:gz") as tf:
        _add_tar(tf, "images/a.png")
    with zipfile.ZipFile(folder / "evil.zip", "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr("../escaped.txt", b"bad")
    with tarfile.open(folder / "evil.tar", "w") as tf:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    res = runner.invoke(app, ["data", "prepare", str(folder)])
    assert res.exit_code == 1, res.output                     # the unsafe archives are refused (and reported)
    assert (folder / "CLEVRER" / "video_2.mp4").read_bytes() == b"defg"
    assert (folder / "sub" / "images" / "a.png").read_bytes() == b"x"
    assert not (tmp_path / "escaped.txt").exists() and not (folder / "ok.txt").exists()
    assert not (folder / "link").exists()
    out = res.output
    assert "CLEVRER.zip" in out and "unpacked" in out and "refused" in out and "escaped.txt" in out
    (folder / "evil.zip").unlink()
    (folder / "evil.tar").unlink()
    res = runner.invoke(app, ["data", "prepare", str(folder)])
    assert res.exit_code == 0 and "already unpacked" in res.output


def test_prepare_empty_and_missing(tmp_path):
    assert "no archives" in runner.invoke(app, ["data", "prepare", str(tmp_path)]).output
    assert runner.invoke(app, ["data", "prepare", str(tmp_path / "nope")]).exit_code == 2
