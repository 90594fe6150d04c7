"""The report as one model, rendered twice: ``README.md`` (:func:`to_markdown`) and ``index.html``
(:mod:`normbench._reporting.html`, through Jinja2 templates).

The analysis (:mod:`normbench._reporting.report`) emits typed blocks in reading order: headings
that say which op and pass their section is about, paragraphs, bullet lists, tables and figures.
Neither rendering guesses structure from text: the page's filter bar reads a section's op and
pass from its heading's fields, not from the heading's words. Text inside a block may carry the
few inline marks both renderings share (code spans, bold, links and images).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence, Union

from .tables import markdown


class _Kind:
    @property
    def kind(self) -> str:
        """The block's type by name, for the page's templates."""
        return type(self).__name__


@dataclass
class Heading(_Kind):
    """A section's title at ``level`` (1: the report's); ``op`` and ``pass_``: what the section is
    about, for the page's filters; ``key``: a name the page can find it by (``"runs"``)."""

    level: int
    text: str
    op: str | None = None
    pass_: str | None = None
    key: str = ""


@dataclass
class Paragraph(_Kind):
    """Lines of one paragraph (Markdown keeps them as lines; HTML joins them)."""

    lines: list[str]

    def __init__(self, *lines: str):
        self.lines = list(lines)


@dataclass
class Bullets(_Kind):
    """A bullet list: (depth, text) per item, depth 0 at the left."""

    items: list[tuple[int, str]] = field(default_factory=list)

    def add(self, text: str, depth: int = 0) -> "Bullets":
        self.items.append((depth, text))
        return self

    def tree(self) -> list[tuple[str, list]]:
        """The items as nested (text, children) pairs: an item deeper than the one before it hangs
        under it, as HTML wants a nested list inside its parent's ``<li>``."""
        root: list[tuple[str, list]] = []
        stack: list[tuple[int, list]] = [(-1, root)]
        for depth, text in self.items:
            while len(stack) > 1 and stack[-1][0] >= depth:
                stack.pop()
            node: tuple[str, list] = (text, [])
            stack[-1][1].append(node)
            stack.append((depth, node[1]))
        return root


@dataclass
class Table(_Kind):
    head: list[str]
    rows: list[list[str]]
    id: str = ""


@dataclass
class Figure(_Kind):
    """A PNG beside the report (``name``), shown inline."""

    alt: str
    name: str


Block = Union[Heading, Paragraph, Bullets, Table, Figure]

#: the inline marks a block's text may carry, written as Markdown writes them, so that the
#: Markdown rendering is the text itself: ``code``, **bold**, [label](target) and ![alt](image)
_MARKS = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)|`([^`]+)`|\*\*([^*]+)\*\*")


@dataclass(frozen=True)
class Span:
    """One piece of a text: ``kind`` is text, code, bold, link or image; ``target``: a link's or
    an image's."""

    kind: str
    text: str
    target: str = ""


def spans(text: str) -> list[Span]:
    """``text`` as typed spans (:data:`_MARKS`), for renderings other than Markdown."""
    out, at = [], 0
    for m in _MARKS.finditer(text):
        if m.start() > at:
            out.append(Span("text", text[at:m.start()]))
        at = m.end()
        bang, label, target, code, bold = m.groups()
        if code is not None:
            out.append(Span("code", code))
        elif bold is not None:
            out.append(Span("bold", bold))
        else:
            out.append(Span("image" if bang else "link", label, target))
    if at < len(text):
        out.append(Span("text", text[at:]))
    return out


@dataclass
class Section:
    """A heading and what follows it up to the next heading of its level or above."""

    heading: Heading
    blocks: list[Block] = field(default_factory=list)
    sections: list["Section"] = field(default_factory=list)


def tree(blocks: Sequence[Block]) -> tuple[list[Block], list[Section]]:
    """(the blocks before the first section heading, the sections as a tree); level-1 headings
    belong to the preamble."""
    preamble: list[Block] = []
    top: list[Section] = []
    stack: list[Section] = []
    for b in blocks:
        if isinstance(b, Heading) and b.level >= 2:
            s = Section(b)
            while stack and stack[-1].heading.level >= b.level:
                stack.pop()
            (stack[-1].sections if stack else top).append(s)
            stack.append(s)
        elif stack:
            stack[-1].blocks.append(b)
        else:
            preamble.append(b)
    return preamble, top


def _lines(b: Block) -> list[str]:
    if isinstance(b, Heading):
        return ["#" * b.level + " " + b.text]
    if isinstance(b, Paragraph):
        return list(b.lines)
    if isinstance(b, Bullets):
        return ["  " * depth + "- " + text for depth, text in b.items]
    if isinstance(b, Table):
        return [markdown(b.head, b.rows)]
    if isinstance(b, Figure):
        return [f"![{b.alt}]({b.name})"]
    raise TypeError(f"not a report block: {b!r}")


def to_markdown(blocks: Sequence[Block]) -> str:
    """The Markdown of ``blocks``: each block, then a blank line."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Bullets) and not b.items:
            continue
        lines += [*_lines(b), ""]
    return "\n".join(lines)
