"""One HTML report of the main results, readable offline.

Figures are inlined as base64 PNG data URIs, tables as HTML with their footers, and the style
sheet is embedded, so ``<root>/report.html`` can be mailed or opened from disk. What would make the
page too heavy to open (the scenario grid's per-draw tables and figures) is linked instead, as
paths relative to the page, which resolve inside the result tree.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.files import atomic_write_text

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1400px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; padding-top: 1em; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { padding: 3px 8px; text-align: right; white-space: nowrap; }
th { border-top: 2px solid #222; border-bottom: 1px solid #222; }
tr:last-child td { border-bottom: 2px solid #222; }
td:first-child, th:first-child { text-align: left; }
.ci { font-size: 0.85em; color: #666; }
tr:nth-child(even) td { background: #f6f6f6; }
.scroll { overflow-x: auto; }
ul.footer { font-size: 0.78em; color: #444; margin-top: 0.3em; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #555; }
nav ul { font-size: 0.9em; }
ul.links { font-size: 0.85em; }
"""

CAPTIONS = {
    "km_risk_groups": "Kaplan–Meier curves of predicted low vs high risk, log-rank p",
    "calibration": "Calibration of predicted vs observed survival at 1, 3 and 5 years",
    "taa_per_year": "Time-adjacent accuracy per year",
    "forest_cindex": "C-index with 95 % intervals",
    "params_vs_accuracy": "Parameters vs accuracy",
    "marginals": "Clinical marginals, real vs synthetic (KS in each title)",
    "kaplan_meier": "Kaplan–Meier, real vs synthetic",
    "anatomy": "Anatomy, real segmentations vs synthetic",
    "cindex": "C-index per method and scenario: mean over the draws, MCSE bars, the oracle marked",
}


def cell_html(value) -> str:
    """A table cell; an interval or p in brackets goes on its own smaller line."""
    return re.sub(r" ([\[(].*?[\])])", r'<br><span class="ci">\1</span>', html.escape(str(value)))


def table_html(table, with_footer: bool = True) -> str:
    """A benchmark.reporting.tables.Table as an HTML table, followed by its footer when asked."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell_html(v)}</td>" for v in row) + "</tr>"
                   for row in table.frame.itertuples(index=False))
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in table.footer) if with_footer else ""
    return (f'<h3>{html.escape(table.title)}</h3><div class="scroll"><table class="{table.name}">'
            f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div><ul class="footer">{notes}</ul>')


def figure_html(png: Path) -> str:
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    kind = Path(png).stem.split("__")[0]   # the scenario plots are named cindex__n197__dfs__...
    caption = html.escape(CAPTIONS.get(kind, Path(png).stem))
    return (f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


@dataclass
class Section:
    """One report group: its tables and figures, shown; `links` (text, href) kept out of the page."""

    anchor: str
    heading: str
    tables: list
    figures: list[Path]
    links: list[tuple[str, str]] = ()
    note: str = ""


def links_html(section: Section) -> str:
    items = "".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>' for text, href in section.links)
    note = f"<p>{html.escape(section.note)}</p>" if section.note else ""
    return note + (f'<ul class="links">{items}</ul>' if items else "")


def render(sections: list[Section], title: str) -> str:
    contents = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.heading)}</a></li>' for s in sections)
    body = []
    for section in sections:
        tables = section.tables
        body.append(f'<section id="{section.anchor}"><h2>{html.escape(section.heading)}</h2>')
        # a footer repeated by the next table is shown once, under the last table that has it
        body += [table_html(table, i + 1 == len(tables) or tables[i + 1].footer != table.footer)
                 for i, table in enumerate(tables)]
        body += [figure_html(png) for png in section.figures]
        body.append(links_html(section) + "</section>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<nav><ul>{contents}</ul></nav>{''.join(body)}</body></html>\n")


def write_html(path: Path, sections: list[Section], title: str = "stg-bench report") -> Path:
    atomic_write_text(path, render(sections, title))
    return Path(path)
