"""A strict reading of our HTML: every element closed in order, and nothing loaded from elsewhere."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self.classes: list[str] = []
        self.tags: dict[str, int] = {}
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"unclosed at end: {self.stack}")

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if "href" in a:
            self.links.append(a["href"])
        if "id" in a:
            self.ids.append(a["id"])
        self.classes += (a.get("class") or "").split()
        if tag in ("script", "link", "img", "iframe", "object", "embed") or "src" in a:
            self.problems.append(f"external or active content: <{tag} {a}>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]} (line {self.getpos()[0]})")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    @property
    def content(self) -> str:
        return " ".join(self.text)
