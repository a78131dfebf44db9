"""The HTML review report: content (every turn, escaping, scores beside reference values, plots,
the roll-up, agreement), determinism, and a real headless Chromium rendering a page."""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from transcript_coder.cli import main
from transcript_coder.errors import DataError
from transcript_coder.report import load_report_config, report

from .pipeline_support import model_set, quickstart, read_rows  # noqa: F401 (fixtures)

CHROMIUM = "/usr/bin/chromium"
TRICKY = ("Therapist: Hello Sam & welcome. What brings you here today?\n"
          "Client: My boss wrote <script>alert('x')</script> on my review & I'm furious about it.\n"
          "Therapist: You're angry that your review felt unfair.\n"
          "Client: Yes. I want to change jobs, I've decided.\n")


@pytest.fixture(scope="module")
def coded(tmp_path_factory, quickstart):
    """A private copy of the quickstart output (the shared one stays untouched), with its report."""
    out = tmp_path_factory.mktemp("report") / "out"
    shutil.copytree(quickstart[0], out)
    view = report(out)
    return out, view


@pytest.fixture(scope="module")
def tricky(tmp_path_factory, model_set):
    """A transcript with markup and ampersands in it, coded and reported."""
    from transcript_coder.pipeline import code

    folder = tmp_path_factory.mktemp("tricky")
    (folder / "tricky.txt").write_text(TRICKY, encoding="utf-8")
    out = folder / "out"
    code([folder / "tricky.txt"], out, models=model_set)
    report(out)
    return out


def test_index_has_one_row_per_session_linking_to_its_page(coded):
    out, view = coded
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    _, sessions = read_rows(out / "sessions.csv")
    assert sorted(view.files) == sorted(["index", *(r["session_id"] for r in sessions)])
    for row in sessions:
        sid = row["session_id"]
        assert f'<a href="{sid}.html">{sid}</a>' in page
        assert (out / "report" / f"{sid}.html").is_file()
        cells = re.search(rf'<tr data-session="{sid}">(.*?)</tr>', page).group(1)
        ratio = float(row["reflection_to_question"])
        assert f"{ratio:.2f}" in cells and f"{float(row['pct_open_questions']):.1f} %" in cells


def test_session_page_shows_every_turn_with_its_codes(coded):
    out, view = coded
    for sid in ("drinking_mi", "sleep_mi"):
        page = (out / "report" / f"{sid}.html").read_text(encoding="utf-8")
        _, rows = read_rows(out / "coded" / f"{sid}.csv")
        units = re.findall(r'<tr class="[^"]*" id="u(\d+)">(.*?)</tr>', page, flags=re.S)
        assert [int(i) for i, _ in units] == [int(r["utterance_index"]) for r in rows]
        for (_, cells), row in zip(units, rows):
            assert html.escape(row["text"], quote=True) in cells
            scheme = "therapist_behaviour" if row["role"] == "therapist" else "client_talk_type"
            tag = re.search(rf'data-scheme="{scheme}">[^<]*?: [^<]*? (\d\.\d\d)</span>', cells)
            assert tag and float(tag.group(1)) == pytest.approx(float(row[f"{scheme}_confidence"]), abs=0.006)


def test_low_confidence_codes_are_flagged_at_the_threshold(coded):
    out, view = coded
    session = next(s for s in view.sessions if s.session_id == "sleep_mi")
    threshold = load_report_config().low_confidence
    confidences = [t.confidence for u in session.units for t in u.tags if t.confidence is not None]
    assert any(c < threshold for c in confidences) and any(c >= threshold for c in confidences)
    for unit in session.units:
        for tag in unit.tags:
            assert tag.low_confidence == (tag.confidence is not None and tag.confidence < threshold)
    page = (out / "report" / "sleep_mi.html").read_text(encoding="utf-8")
    assert page.count('class="tag low"') == sum(t.low_confidence for u in session.units for t in u.tags)
    assert page.count('<tr class="therapist review"') + page.count('<tr class="client review"') == session.n_flagged


def test_scores_are_shown_beside_labelled_reference_values(coded):
    out, _ = coded
    page = (out / "report" / "drinking_mi.html").read_text(encoding="utf-8")
    _, sessions = read_rows(out / "sessions.csv")
    row = next(r for r in sessions if r["session_id"] == "drinking_mi")
    scores = dict(re.findall(r'<tr data-score="(\w+)">(.*?)</tr>', page))
    assert set(scores) == {"reflection_to_question", "pct_complex_reflections", "pct_open_questions", "pct_change_talk",
                           "mi_adherent", "mi_non_adherent", "mi_adherent_per_100", "mi_non_adherent_per_100"}
    # No shipped model provides mi_relational: its scores say so instead of showing a number.
    assert "no model provides mi_relational" in scores["mi_adherent"] and row["mi_adherent"] == ""
    assert f"{float(row['reflection_to_question']):.2f}" in scores["reflection_to_question"]
    assert ">1.00<" in scores["reflection_to_question"] and ">2.00<" in scores["reflection_to_question"]
    assert ">40.0 %<" in scores["pct_complex_reflections"] and ">50.0 %<" in scores["pct_complex_reflections"]
    assert "MITI 3.1.1" in scores["pct_open_questions"] and "MITI 4.2 sets no %OQ threshold" in scores["pct_open_questions"]
    assert "reference values, not verdicts" in page


def test_plots_are_inline_svg_and_the_page_is_self_contained(coded):
    out, _ = coded
    page = (out / "report" / "sleep_mi.html").read_text(encoding="utf-8")
    for plot in ("therapist_behaviour", "client_emotion", "client_talk"):
        figure = re.search(rf'<figure class="plot" id="plot-{plot}">(.*?)</figure>', page, flags=re.S)
        assert figure and "<svg" in figure.group(1) and "<path" in figure.group(1)
    assert "<script" not in page and "@import" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from outside
    assert "Therapist behaviours through the session" in page


def test_rollup_counts_and_shares_match_sessions_csv(coded):
    out, view = coded
    _, sessions = read_rows(out / "sessions.csv")
    row = next(r for r in sessions if r["session_id"] == "drinking_mi")
    session = next(s for s in view.sessions if s.session_id == "drinking_mi")
    counts = {share.code: share.count for share in session.rollup}
    assert counts == {code: int(row[f"n_integrative.{code}"]) if row[f"n_integrative.{code}"] else None
                      for code in counts}
    assert len(counts) == 7
    # Without an mi_relational model, the categories that need it are unknown, not zero.
    assert [c for c, n in counts.items() if n is None] == ["alliance_building", "direction", "rupture_risk"]
    therapist_units = sum(1 for u in session.units if u.role == "therapist")
    assert sum(n for n in counts.values() if n is not None) >= therapist_units  # a unit may show several
    page = (out / "report" / "drinking_mi.html").read_text(encoding="utf-8")
    assert "Active listening" in page and "Information and feedback" in page
    assert 'data-rollup="alliance_building" class="unavailable"' in page and "needs mi_relational" in page


def test_report_is_deterministic(coded):
    out, _ = coded
    before = {p.name: p.read_bytes() for p in (out / "report").iterdir()}
    report(out)
    assert {p.name: p.read_bytes() for p in (out / "report").iterdir()} == before


def test_transcript_text_is_escaped(tricky):
    page = (tricky / "report" / "tricky.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Hello Sam &amp; welcome" in page and "Sam & welcome" not in page


def test_report_with_a_human_coding_shows_agreement(coded, tmp_path):
    out, _ = coded
    human = tmp_path / "human"
    human.mkdir()
    shutil.copy(out / "coded" / "sleep_mi.csv", human / "sleep_mi.csv")
    view = report(out, human=[human])
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert view.agreement.n_aligned == 20 and view.agreement.schemes["therapist_behaviour"].kappa == 1.0
    assert 'id="agreement"' in page and '<tr data-scheme="therapist_behaviour"><td>therapist_behaviour</td><td class="num">10</td><td class="num">1.000</td><td class="num">1.000</td>' in page
    assert "<th>Cohen's kappa</th><th>Krippendorff's alpha</th>" in page
    report(out)  # leave the module's report as it was


def test_report_cli_and_not_an_output_folder(coded, tmp_path, capsys):
    out, _ = coded
    assert main(["report", str(out), "--low-confidence", "0.0"]) == 0
    assert 'class="tag low"' not in (out / "report" / "sleep_mi.html").read_text(encoding="utf-8")
    assert main(["report", str(out)]) == 0
    with pytest.raises(DataError) as err:
        report(tmp_path)
    assert err.value.code == "E509"
    assert main(["report", str(tmp_path)]) == 1 and "E509" in capsys.readouterr().err


# --- a real browser -----------------------------------------------------------------------------

def _png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (no interlace) to rows of raw pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def test_chromium_renders_a_session_page_to_a_non_blank_screenshot(coded, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("TRANSCRIPT_CODER_REQUIRE_CHROMIUM"):
            pytest.fail(f"{CHROMIUM} is missing but TRANSCRIPT_CODER_REQUIRE_CHROMIUM is set (make chromium)")
        pytest.skip("chromium is not installed (make chromium)")
    out, _ = coded
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
                    (out / "report" / "sleep_mi.html").as_uri()],
                   check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    width, height, channels, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    colours = {row[x:x + 3] for row in rows[::8] for x in range(0, width * channels, channels * 8)}
    white = bytes([255, 255, 255])
    non_white = sum(1 for row in rows[::8] for x in range(0, width * channels, channels * 8) if row[x:x + 3] != white)
    assert len(colours) > 20  # text, tags and plot colours, not a blank or single-colour page
    assert non_white > 0.02 * (width // 8) * (height // 8)
    # the tag and plot colours from configs/report.yaml are on screen (therapist behaviour's palette)
    import yaml

    config = Path(__file__).resolve().parents[1] / "configs" / "report.yaml"
    palette = yaml.safe_load(config.read_text(encoding="utf-8"))["palettes"]
    wanted = [bytes.fromhex(c.lstrip("#")) for c in palette["therapist_behaviour"]]
    assert any(all(abs(r[x + k] - c[k]) < 12 for k in range(3)) for c in wanted
               for r in rows[::4] for x in range(0, width * channels, channels * 2))
