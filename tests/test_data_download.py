"""Downloads against a local HTTP server that serves the shared files at the upstream layout."""

import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from autoperi.cli.main import main
from autoperi.data.download import download_split, git_blob_sha1
from autoperi.errors import DatasetError


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror(tmp_path, shared_data_root):
    """A local mirror: data/<name>/<split>.csv, as in CDVAE's repository."""
    served = tmp_path / "served"
    for name in ("perov_5", "carbon_24"):
        (served / "data" / name).mkdir(parents=True)
        for split in ("val", "test"):
            shutil.copy(shared_data_root / name / f"{split}.csv", served / "data" / name / f"{split}.csv")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_git_blob_id_matches_git(tmp_path):
    path = tmp_path / "file.csv"
    path.write_bytes(b"a,b\n1,2\n")
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True)
    assert git_blob_sha1(path.read_bytes()) == expected.stdout.strip()


def test_download_verifies_and_keeps_good_copies(mirror, tmp_path, shared_data_root):
    _, url = mirror
    root = tmp_path / "root"
    path, fetched = download_split("perov_5", "val", root, base_url=url)
    assert fetched and path.read_bytes() == (shared_data_root / "perov_5" / "val.csv").read_bytes()
    assert download_split("perov_5", "val", root, base_url=url) == (path, False)


def test_corrupted_download_is_rejected_and_not_kept(mirror, tmp_path):
    served, url = mirror
    target = served / "data" / "carbon_24" / "test.csv"
    target.write_bytes(target.read_bytes().replace(b"C", b"N", 1))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        download_split("carbon_24", "test", tmp_path / "root", base_url=url)
    assert not (tmp_path / "root" / "carbon_24" / "test.csv").exists()


def test_missing_file_is_a_clear_error(mirror, tmp_path):
    _, url = mirror
    with pytest.raises(DatasetError, match="HTTP 404"):
        download_split("perov_5", "train", tmp_path / "root", base_url=url)


def test_unreachable_server(tmp_path):
    with pytest.raises(DatasetError, match="failed"):
        download_split("perov_5", "val", tmp_path, base_url="http://127.0.0.1:9", timeout=5)


def test_cli_download(mirror, tmp_path, capsys):
    _, url = mirror
    args = ["data", "download", "carbon_24", "--root", str(tmp_path), "--base-url", url]
    assert main([*args, "--split", "val", "--split", "test"]) == 0
    assert "downloaded and verified" in capsys.readouterr().out
    assert main([*args, "--split", "val"]) == 0
    assert "already present" in capsys.readouterr().out
    assert main([*args, "--split", "train"]) == 2
    assert capsys.readouterr().err.startswith("autoperi: error: download of")
