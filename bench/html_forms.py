"""The fields an HTML form sends, as a browser sends them (stdlib only): for bench/load_locust.py and
the fault tests, which post the app's real forms to a running server."""
from __future__ import annotations

import re
from html.parser import HTMLParser

ALERT = re.compile(r'class="alert alert-(danger|success|warning|info)[^"]*"[^>]*>\s*(.*?)<', re.S)


class FormFields(HTMLParser):
    """The fields one form sends as a browser would: inputs (checked boxes only), selects (the
    selected option, else the first), textareas. The form: the POST form whose data-testid is
    `testid`, else the first POST form inside <main>."""

    def __init__(self, testid: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.testid, self.fields, self.in_form, self.done = testid, [], False, False
        self.in_main = False
        self.select: str | None = None
        self.select_value: tuple[str, bool] | None = None
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "main":
            self.in_main = True
        if self.done:
            return
        if tag == "form" and a.get("method", "").lower() == "post" and not self.in_form:
            if (self.testid is None and self.in_main) or (self.testid and a.get("data-testid") == self.testid):
                self.in_form = True
            return
        if not self.in_form:
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name and "disabled" not in a:
            self.select, self.select_value = name, None
        elif tag == "option" and self.select is not None:
            value = a.get("value", "")
            if "selected" in a:
                self.select_value = (value, True)
            elif self.select_value is None:
                self.select_value = (value, False)
        elif tag == "textarea" and name and "disabled" not in a:
            self.textarea, self.text = name, ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self.select is not None:
            if self.select_value is not None:
                self.fields.append((self.select, self.select_value[0]))
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None
        elif tag == "form" and self.in_form:
            self.in_form, self.done = False, True


def form_fields(html: str, testid: str | None = None) -> list[tuple[str, str]]:
    parser = FormFields(testid)
    parser.feed(html)
    return parser.fields


def alerts(html: str) -> list[tuple[str, str]]:
    return [(kind, " ".join(text.split())) for kind, text in ALERT.findall(html)]
