"""The HTML review report: a :class:`~transcript_coder.report.ReportView` to ``index.html`` and one
page per session, self-contained (inline CSS, plots as inline SVG, no scripts, fonts or links
outside the folder), so it opens offline and can be mailed as a folder.

This writer renders; it computes nothing but layout. It is the only module that imports matplotlib
(Agg backend, figures created without pyplot's global state). Every piece of transcript or file
text goes through :func:`html.escape`. Output is deterministic: the same view gives the same bytes.
"""

from __future__ import annotations

import html
import io
import math
from pathlib import Path
from urllib.parse import quote

from ..report import PlotData, RelationalView, ReportView, RollupShare, ScoreView, SessionView, page_file_names
from .atomic import write_text

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:1.5rem auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border-bottom:1px solid #eee;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f6f6}td.num{text-align:right;white-space:nowrap}
.tag{display:inline-block;border-radius:.6rem;padding:.05rem .5rem;margin:.1rem;color:#fff;font-size:.8rem;
white-space:nowrap}.tag.low{outline:2px dashed #c00;outline-offset:1px}.flag{color:#c00;font-weight:bold}
tr.review{background:#fff6f6}tr.therapist td.who{color:#1f4e79}tr.client td.who{color:#7a3e00}
.note{color:#555;font-size:.85rem}.legend{margin:.2rem 0;font-size:.85rem}.swatch{display:inline-block;
width:.8rem;height:.8rem;border-radius:.2rem;vertical-align:middle;margin:0 .2rem 0 .6rem}tr.warned{background:#fffbe6}.bar{display:inline-block;height:.8rem;vertical-align:middle}
figure.plot{margin:1rem 0}figure.plot svg{width:100%;height:auto}figcaption{font-weight:bold}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def format_score(value: float | None, unit: str) -> str:
    """A score as supervisors read it: ``1.50`` for a ratio, ``42.0 %`` for a percentage."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2f}" if unit == "ratio" else f"{value:.1f} %"


# ------------------------------------------------------------------------------------ plots
def require_matplotlib() -> None:
    """Check that matplotlib can be imported (a core dependency, but an install may have skipped it).

    Raises:
        UsageError: E417 naming the extra to install.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        from ..errors import UsageError

        raise UsageError("E417", feature="the HTML report", package="matplotlib", extra="report",
                         detail=str(error)) from None


def plot_figure(plot: PlotData):
    """The matplotlib :class:`~matplotlib.figure.Figure` of one plot (no pyplot state); count axes
    have integer ticks only."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 0.5 + 0.32 * max(3, len(plot.codes))), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    width = max(plot.n_units, 1)
    if plot.kind == "cumulative":
        for code, name, colour in zip(plot.codes, plot.code_names, plot.colours):
            hits = {position for position, c in plot.points if c == code}
            running, ys = 0, []
            for position in range(width):
                running += position in hits
                ys.append(running)
            axes.step(range(width), ys, where="post", color=colour, label=name, linewidth=2)
        axes.set_ylabel("units so far")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count: no 2.5 tick
        axes.legend(loc="upper left", frameon=False)
    else:
        rows = {code: len(plot.codes) - 1 - i for i, code in enumerate(plot.codes)}
        for code, colour in zip(plot.codes, plot.colours):
            xs = [position for position, c in plot.points if c == code]
            axes.scatter(xs, [rows[code]] * len(xs), color=colour, marker="s", s=40)
        axes.set_yticks([rows[c] for c in plot.codes], plot.code_names)
        axes.set_ylim(-0.7, len(plot.codes) - 0.3)
    if not plot.points:
        axes.text(0.5, 0.5, "no units coded with this scheme", transform=axes.transAxes, ha="center",
                  va="center", color="#777")
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_xlabel("unit of the session (utterance index)")
    axes.grid(axis="x", color="#eee")
    axes.set_axisbelow(True)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return figure


def render_plot(plot: PlotData) -> str:
    """One plot as an ``<svg>`` element (matplotlib, Agg, deterministic ids and no date)."""
    import matplotlib

    matplotlib.use("Agg")

    with matplotlib.rc_context({"svg.hashsalt": "transcript_coder", "svg.fonttype": "path", "font.size": 9}):
        figure = plot_figure(plot)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


# ------------------------------------------------------------------------------------ pages
def _score_rows(scores: list[ScoreView]) -> str:
    rows = []
    for s in scores:
        fair = format_score(s.fair, s.unit) if s.fair is not None else "none set"
        good = format_score(s.good, s.unit) if s.good is not None else "none set"
        value = _e(format_score(s.value, s.unit)) + (f" <span class=\"note\">({_e(s.note)})</span>" if s.note else "")
        rows.append(f"<tr data-score=\"{_e(s.name)}\"><td>{_e(s.label)}</td><td class=\"num\">"
                    f"{value}</td><td class=\"num\">{_e(fair)}</td>"
                    f"<td class=\"num\">{_e(good)}</td><td class=\"note\">{_e(s.source)}</td></tr>")
    return ("<table class=\"scores\"><tr><th>Score</th><th>This session</th><th>Reference: fair</th>"
            "<th>Reference: good</th><th>Source of the reference value</th></tr>\n" + "\n".join(rows) + "</table>\n"
            "<p class=\"note\">Reference values are the published MITI thresholds for a whole coded session, "
            "shown for orientation. They are reference values, not verdicts: automated codes have errors, and "
            "a score is only as good as the codes behind it.</p>")


def _role_text(session: SessionView) -> str:
    confidence = "" if session.role_confidence is None else f" ({session.role_confidence:.2f})"
    return f"{session.role_method}{confidence}" if session.role_method else ""


def _roles_and_warnings(session: SessionView) -> str:
    """Role method and confidence, and the session's warnings (codes as in errors.csv)."""
    text = f"Roles: {_e(_role_text(session))}" if session.role_method else ""
    if session.warnings:
        text += (" &middot; " if text else "") + (f"<span class=\"flag\">&#9873; warnings: "
                                                  f"{_e(', '.join(session.warnings))}</span> (see errors.csv)")
    return f"<p class=\"note roles\">{text}</p>" if text else ""


def _legend(session: SessionView) -> str:
    """The colours of every scheme tagged on the page, one line per scheme (each scheme has its own
    palette), and why some fine-grained tags are not shown."""
    lines = []
    for entry in session.legend:
        swatches = "".join(f"<span class=\"swatch\" style=\"background:{_e(colour)}\"></span>{_e(name)}"
                           for name, colour in entry.codes)
        note = f" <span class=\"note\">({_e(entry.note)})</span>" if entry.note else ""
        lines.append(f"<div class=\"legend\" data-scheme=\"{_e(entry.scheme)}\"><b>{_e(entry.scheme_name)}</b>:"
                     f"{swatches}{note}</div>")
    notes = "".join(f"<p class=\"note nested\">{_e(text)}</p>" for text in session.nested_notes)
    return "<div class=\"legends\">" + "\n".join(lines) + "</div>" + notes if lines or notes else ""


def session_page(session: SessionView, view: ReportView) -> str:
    """The HTML of one session's page."""
    parts = [f"<p><a href=\"index.html\">&larr; all sessions</a></p>",
             f"<h1>Session {_e(session.session_id)}</h1>",
             f"<p class=\"note\">Source: {_e(session.source)} &middot; {len(session.units)} unit(s) &middot; "
             f"{session.n_flagged} with a code below confidence {view.low_confidence:.2f} "
             f"(<span class=\"flag\">&#9873; check</span>)</p>",
             _roles_and_warnings(session),
             "<h2>Session scores</h2>", _score_rows(session.scores)]
    if session.rollup:
        parts += [f"<h2>{_e(session.rollup_name)}: what the therapist offered</h2>", _rollup_table(session.rollup)]
    parts.append("<h2>Over the session</h2>")
    for plot in session.plots:
        parts.append(f"<figure class=\"plot\" id=\"plot-{_e(plot.id)}\"><figcaption>{_e(plot.title)}</figcaption>\n"
                     f"{render_plot(plot)}</figure>")
    if session.relational is not None:
        parts.append(_relational_section(session.relational))
    rows = []
    for unit in session.units:
        tags = []
        for tag in unit.tags:
            conf = "" if tag.confidence is None else f" {tag.confidence:.2f}"
            flag = " <span class=\"flag\">&#9873; check</span>" if tag.low_confidence else ""
            tags.append(f"<span class=\"tag{' low' if tag.low_confidence else ''}\" style=\"background:{_e(tag.colour)}\" "
                        f"title=\"{_e(tag.scheme_name)}\" data-scheme=\"{_e(tag.scheme)}\">{_e(tag.scheme_name)}: "
                        f"{_e(tag.code_name)}{_e(conf)}</span>{flag}")
        time = _e(unit.start) + ("&ndash;" + _e(unit.end) if unit.end else "") if unit.start else ""
        time_cell = f"<td class=\"num\">{time}</td>" if session.has_times else ""  # no times: no column
        classes = _e(unit.role) + (" review" if unit.needs_review else "")
        rows.append(f"<tr class=\"{classes}\" id=\"u{unit.utterance_index}\"><td class=\"num\">{unit.utterance_index}</td>"
                    f"{time_cell}<td class=\"who\">{_e(unit.speaker)}<br><span class=\"note\">"
                    f"{_e(unit.role)}</span></td><td class=\"text\">{_e(unit.text)}</td><td>{''.join(tags)}</td></tr>")
    time_head = "<th>Time (s)</th>" if session.has_times else ""
    parts += ["<h2>Transcript</h2>", _legend(session),
              f"<table class=\"transcript\"><tr><th>#</th>{time_head}<th>Speaker</th><th>Text</th><th>Codes "
              "(confidence)</th></tr>\n" + "\n".join(rows) + "</table>"]
    return _page(f"Session {session.session_id}", "\n".join(parts))


def _rollup_table(shares: list[RollupShare]) -> str:
    """Categories with their count and share of the therapist units; a category that needs a
    scheme no model provides says so instead of showing a zero."""
    rows = []
    for share in shares:
        if share.count is None:
            needs = ", ".join(share.needs)
            rows.append(f"<tr data-rollup=\"{_e(share.code)}\" class=\"unavailable\"><td>{_e(share.name)}</td>"
                        f"<td class=\"note\" colspan=\"3\">not available: needs {_e(needs)}, which no model "
                        f"provides yet</td></tr>")
            continue
        pct = "n/a" if share.share is None else f"{100 * share.share:.1f} %"
        width = 0 if share.share is None else round(200 * share.share)
        partial = (f" <span class=\"note\">(without {_e(', '.join(share.partial))}: no model provides it yet)</span>"
                   if share.partial else "")
        rows.append(f"<tr data-rollup=\"{_e(share.code)}\"><td>{_e(share.name)}{partial}</td><td class=\"num\">"
                    f"{share.count}</td><td class=\"num\">{_e(pct)}</td><td><span class=\"bar\" style=\"width:{width}px;"
                    f"background:{_e(share.colour)}\"></span></td></tr>")
    return ("<table class=\"rollup\"><tr><th>Category</th><th>Therapist units</th><th>Share of therapist units</th>"
            "<th></th></tr>\n" + "\n".join(rows) + "</table>\n<p class=\"note\">A unit can show several categories, so "
            "the shares need not add up to 100 %. Every category's source is in configs/codebooks/integrative.yaml.</p>")


def _relational_section(view: RelationalView) -> str:
    """The "Relational process" section: alliance building against directive moments over the
    session, the relationship map, and the rupture-risk moments with their turn."""
    parts = ["<h2 id=\"relational\">Relational process</h2>"]
    if view.needs:
        parts.append(f"<p class=\"note missing\">No model provides {_e(', '.join(view.needs))} yet, so alliance building, "
                     "direction and rupture risk cannot be shown for this session: they are unknown, not zero. "
                     "The relationship map below is rule-based and needs no model.</p>")
    else:
        for plot in view.plots:
            parts.append(f"<figure class=\"plot\" id=\"plot-{_e(plot.id)}\"><figcaption>{_e(plot.title)}</figcaption>\n"
                         f"{render_plot(plot)}</figure>")
    definitions = "".join(f"<li><b>{_e(c.name)}</b>: {_e(c.definition)}</li>" for c in view.categories)
    parts.append(f"<details><summary>The categories and their sources</summary><ul>{definitions}</ul></details>")
    parts.append("<h3>Relationship map: who the client talks about</h3>")
    figures = [f for f in view.figures if f.units]
    if figures:
        rows = [f"<tr data-figure=\"{_e(f.code)}\"><td>{_e(f.name)}</td><td class=\"num\">{f.units}</td>"
                f"<td>{_e(f.profile.replace(';', ', ').replace(':', ' '))}</td><td class=\"num\">"
                f"{_e(format_score(f.share, 'percent'))}</td></tr>" for f in figures]
        parts.append("<table class=\"relationship-map\"><tr><th>Figure</th><th>Client units mentioning them</th>"
                     "<th>Emotions in those units</th><th>Change talk, of change + sustain</th></tr>\n"
                     + "\n".join(rows) + "</table>")
    else:
        parts.append("<p class=\"note\">The client mentions no one in their life in this session (by the "
                     "relationship rules).</p>")
    parts.append(f"<h3>Rupture-risk moments ({_e(', '.join(view.rupture_names))})</h3>")
    if view.needs:
        parts.append("<p class=\"note\">Not available without a model for " + _e(", ".join(view.needs)) + ".</p>")
    elif view.ruptures:
        rows = [f"<tr><td class=\"num\"><a href=\"#u{u.utterance_index}\">{u.turn_index}</a></td><td>{_e(u.speaker)}</td>"
                f"<td>{_e(u.text)}</td></tr>" for u in view.ruptures]
        parts.append("<table class=\"ruptures\"><tr><th>Turn</th><th>Speaker</th><th>Text</th></tr>\n"
                     + "\n".join(rows) + "</table>")
    else:
        parts.append("<p class=\"note\">None in this session.</p>")
    return "\n".join(parts)


def _agreement_section(view: ReportView) -> str:
    result = view.agreement
    if result is None:
        return ""
    rows = [f"<tr data-scheme=\"{_e(s)}\"><td>{_e(s)}</td><td class=\"num\">{r.n}</td><td class=\"num\">{r.kappa:.3f}</td>"
            f"<td class=\"num\">{r.alpha:.3f}</td><td class=\"num\">{r.macro_f1:.3f}</td><td class=\"num\">{r.accuracy:.3f}</td><td>"
            + ", ".join(f"{_e(code)} {m['f1']:.2f}" for code, m in r.per_code.items() if m["support"]) + "</td></tr>"
            for s, r in result.schemes.items()]
    icc_rows = [f"<tr data-score=\"{_e(name)}\"><td>{_e(view.score_labels.get(name, name))}</td><td class=\"num\">{a.n}</td>"
                f"<td class=\"num\">{_e('n/a' if math.isnan(a.icc_2_1) else f'{a.icc_2_1:.3f}')}</td>"
                f"<td class=\"num\">{_e('n/a' if math.isnan(a.icc_3_1) else f'{a.icc_3_1:.3f}')}</td></tr>"
                for name, a in result.scores.items()]
    return ("<h2 id=\"agreement\">Agreement with the human coding</h2>\n"
            f"<p class=\"note\">Human coding (reference): {_e(view.human)} ({_e(result.reference_columns)} columns). "
            f"{result.n_aligned} unit(s) aligned by session and utterance index; {len(result.only_reference)} only in "
            f"the human coding, {len(result.only_compare)} only in the model's.</p>\n"
            "<table class=\"agreement\"><tr><th>Scheme</th><th>Units</th><th>Cohen's kappa</th><th>Krippendorff's alpha</th><th>Macro-F1</th>"
            "<th>Accuracy</th><th>F1 per code</th></tr>\n" + "\n".join(rows) + "</table>\n"
            "<table class=\"icc\"><tr><th>Score</th><th>Sessions</th><th>ICC(2,1)</th><th>ICC(3,1)</th></tr>\n"
            + "\n".join(icc_rows) + "</table>")


def index_page(view: ReportView) -> str:
    """The HTML of the batch page: one row per session with its scores, linking to its page."""
    names = list(view.score_labels)
    references = {s.name: s for session in view.sessions[:1] for s in session.scores}

    def header(name: str) -> str:
        ref = references.get(name)
        levels = [f"{label} {format_score(value, ref.unit)}" for label, value in (("fair", ref.fair), ("good", ref.good))
                  if value is not None] if ref else []
        below = f"<br><span class=\"note\">reference: {_e(', '.join(levels))}</span>" if levels else ""
        return f"<th data-score=\"{_e(name)}\">{_e(view.score_labels[name])}{below}</th>"

    head = "".join(header(n) for n in names)
    rows = []
    warned = [s for s in view.sessions if s.warnings]
    for session in view.sessions:
        by_name = {s.name: s for s in session.scores}
        cells = "".join(f"<td class=\"num\">{_e(format_score(by_name[n].value, by_name[n].unit))}</td>" for n in names)
        flag = (f"<span class=\"flag\">&#9873; {_e(', '.join(session.warnings))}</span>" if session.warnings else "")
        warned_class = " class=\"warned\"" if session.warnings else ""
        rows.append(f"<tr data-session=\"{_e(session.session_id)}\"{warned_class}>"
                    f"<td><a href=\"{_e(quote(_page_of(session)))}\">"
                    f"{_e(session.session_id)}</a></td><td class=\"num\">{len(session.units)}</td>"
                    f"<td class=\"num\">{session.n_flagged}</td><td>{_e(_role_text(session))}</td>"
                    f"<td class=\"warnings\">{flag}</td>{cells}</tr>")
    summary = ""
    if warned:
        links = ", ".join(f"<a href=\"{_e(quote(_page_of(s)))}\">{_e(s.session_id)}</a>" for s in warned)
        summary = (f"<p class=\"flag warned-summary\">&#9873; {len(warned)} session(s) with warnings to check "
                   f"(codes as in errors.csv): {links}</p>\n")
    models = ", ".join(f"{m.get('name')} ({m.get('fingerprint')})" for m in view.run.get("models", []))
    body = (f"<h1>{_e(view.title)}</h1>\n<p class=\"note\">transcript_coder {_e(view.run.get('transcript_coder', ''))}"
            f"{' &middot; models: ' + _e(models) if models else ''} &middot; codes below confidence "
            f"{view.low_confidence:.2f} are flagged for review.</p>\n" + summary +
            "<table class=\"sessions\"><tr><th>Session</th><th>Units</th><th>Flagged units</th><th>Roles (confidence)"
            "</th><th>Warnings</th>" + head + "</tr>\n"
            + "\n".join(rows) + "</table>\n<p class=\"note\">Scores are computed from the automated codes. The "
            "reference values under each score are the published MITI thresholds for a whole coded session "
            "(reference values, not verdicts); each session's page gives their sources.</p>\n"
            + _agreement_section(view))
    return _page(view.title, body)


def _page_of(session: SessionView) -> str:
    """The session's page file name (set by :func:`~transcript_coder.report.report`; derived here
    for a view built by hand)."""
    return session.page or page_file_names([session.session_id])[session.session_id]


def write_report(view: ReportView, folder: str | Path) -> dict[str, Path]:
    """Write ``index.html`` and one page per session (named by
    :func:`~transcript_coder.report.page_file_names`) into ``folder``; returns the paths by page
    (``index``, then session ids). Links to pages are URL-encoded."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pages = page_file_names([s.session_id for s in view.sessions])
    for session in view.sessions:
        session.page = session.page or pages[session.session_id]
    files = {"index": write_text(folder / "index.html", index_page(view))}
    for session in view.sessions:
        files[session.session_id] = write_text(folder / session.page, session_page(session, view))
    return files
