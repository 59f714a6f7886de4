"""The sanitizer of the HTML that students' notebooks become (feedback pages, the formgrader).

nbconvert's own ``clean_html`` (used when ``HTMLExporter.sanitize_html`` is on) escapes the
paragraphs, headings and tables of every markdown cell, which makes the course's prose
unreadable; without sanitizing, a submission's markdown or HTML output puts its scripts in front
of the student and the instructor. This filter keeps the markup notebooks use and removes what
runs: elements outside :data:`TAGS` (``script``, ``iframe``, ``object``, ``style``, forms...) are
dropped with their content shown as text, attributes outside :data:`ATTRIBUTES` (every ``on*``
event handler, ``style``) are dropped, and links and images may only point to http(s), mailto,
in-page anchors or embedded data. ``nbgrader_config.py`` installs it in place of nbconvert's.
"""

from __future__ import annotations

import re

import bleach

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var",
})
ATTRIBUTES = {
    "*": ["class", "id", "title", "align", "dir", "lang"],
    "a": ["href", "name", "rel", "target"],
    "img": ["src", "alt", "width", "height"],
    "td": ["colspan", "rowspan"], "th": ["colspan", "rowspan", "scope"],
    "details": ["open"], "ol": ["start", "type"],
}
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})

_cleaner = bleach.Cleaner(tags=TAGS, attributes=ATTRIBUTES, protocols=PROTOCOLS, strip=True,
                          strip_comments=True)


def clean_html(html: str) -> str:
    """``html`` with only inert markup left (see the module docstring)."""
    return _cleaner.clean(str(html))


_SCRIPT_URL = re.compile(r"\]\(\s*<?\s*(?:javascript|vbscript|data)\s*:", re.I)


def clean_markdown(source: str) -> str:
    """A markdown cell's source with only inert HTML left and no script links.

    Applied by the grader to the markdown and raw cells a student wrote or changed (the
    course's own cells are left as released), before the notebook is stored: the formgrader's
    template renders markdown without any sanitizer, so this is what protects the instructor.
    """
    return _SCRIPT_URL.sub("](#", _cleaner.clean(str(source)))
