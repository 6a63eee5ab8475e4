"""The one cache folder (with its environment settings) and the one file hasher, against hashlib."""

from __future__ import annotations

import hashlib

from autoperi.caching import cache_dir, path_sha256
from autoperi.data import load_file
from cif_texts import two_site_cubic_cif

NACL_CIF = two_site_cubic_cif(5.64, "Na", "Cl")


def test_cache_dir_follows_autoperi_cache_dir_then_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOPERI_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "autoperi"
    csv = tmp_path / "one.csv"
    csv.write_text('material_id,cif\nnacl,"' + NACL_CIF + '"\n')
    load_file(csv)
    assert len(list((tmp_path / "xdg" / "autoperi" / "parsed").glob("one-*.pt"))) == 1
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"


def test_path_sha256_of_a_file_and_of_a_folder(tmp_path):
    first, second = tmp_path / "a.cif", tmp_path / "b.cif"
    first.write_text(NACL_CIF)
    second.write_text(NACL_CIF.replace("5.64", "5.65"))
    assert path_sha256(first) == hashlib.sha256(first.read_bytes()).hexdigest()
    expected = hashlib.sha256(b"a.cif" + first.read_bytes() + b"b.cif" + second.read_bytes()).hexdigest()
    assert path_sha256(tmp_path) == expected
    second.rename(tmp_path / "c.cif")  # a renamed file changes the folder's key
    assert path_sha256(tmp_path) != expected
