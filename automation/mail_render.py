"""Merge fields for e-mail templates, rendered in a sandbox.

A template sees one thing: `record`, a dict of the values of the record's fields that the rule's
actor may see (by key, by API name and by the label written as a name: `close_date`), as display
text, plus `record.url`, `record.id` and `record.module`; and `rule`, the rule's name. Never the
model object (no way to walk to other rows or methods), never a hidden field. Unknown fields
render empty (Django's default). Only a few harmless tags are allowed: `{% include %}`,
`{% load %}`, `{% debug %}` and the like are refused when the template is saved and when it is
rendered, so a template cannot read files, other templates or the process's state."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import Lexer, TokenType
from django.utils.html import escape, linebreaks, urlize
from django.utils.translation import gettext as _

ALLOWED_TAGS = {"if", "elif", "else", "endif", "for", "empty", "endfor", "firstof", "now", "comment", "endcomment"}
# No loaders, no libraries, no context processors: a template can only read what it is given.
_ENGINE_TEXT = Engine(autoescape=False, libraries={}, loaders=[], builtins=["django.template.defaultfilters",
                                                                           "django.template.defaulttags"])


def check_template(text: str, field: str) -> None:
    """Raise ValidationError({field: ...}) if the text uses a tag outside ALLOWED_TAGS or does not parse."""
    for token in Lexer(text).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = (token.split_contents() or [""])[0]
            if name not in ALLOWED_TAGS:
                raise ValidationError({field: _("The tag “%(tag)s” is not allowed in e-mail templates.") % {"tag": name}})
        if token.token_type == TokenType.VAR and "_" == token.contents.strip()[:1]:
            raise ValidationError({field: _("Merge fields cannot start with “_”.")})
    try:
        _ENGINE_TEXT.from_string(text)
    except TemplateSyntaxError as exc:
        raise ValidationError({field: _("The template does not parse: %(error)s") % {"error": exc}})


def name_of(label: str) -> str:
    """A label written as a merge-field name: "Close date" -> "close_date"."""
    return re.sub(r"[^0-9a-z]+", "_", str(label).lower()).strip("_")


@dataclass(frozen=True)
class MergeField:
    name: str  # what goes after "record."
    label: str


def available_fields(schema: Any, user: Any | None = None) -> list[MergeField]:
    """The merge fields a template editor may use for this module (those `user` may see)."""
    specs = schema.fields_for(user) if user is not None else schema.fields
    fields = [MergeField(spec.api_name or spec.key, spec.label) for spec in specs]
    fields += [MergeField("url", _("Link to the record")), MergeField("id", _("Record number"))]
    return fields


def generic_fields() -> list[MergeField]:
    """Merge fields every module has, for templates not tied to one module."""
    return [MergeField("title", _("The record's name")), MergeField("owner", _("Owner")),
            MergeField("url", _("Link to the record")), MergeField("id", _("Record number"))]


def _reference_text(spec: Any, value: Any, record: Any, schema: Any, actor: Any) -> str:
    """A user's name, or a linked record's name only if the actor may see that record."""
    from access.models import User
    from access.visibility import visible
    from crm.modules import get_module

    if value in (None, ""):
        return ""
    if spec.type == "user":
        user = User.objects.filter(pk=value, memberships__org=schema.org).first()
        return str(user) if user is not None else ""
    if spec.type == "lookup" and spec.target:
        try:
            target = get_module(spec.target, schema.org)
        except Exception:  # the target module is gone: nothing to name
            return ""
        linked = visible(actor, target, "view").filter(pk=value).first()
        return str(linked) if linked is not None else ""
    return ""


def merge_values(schema: Any, record: Any, actor: Any) -> dict[str, str]:
    """The record's values the actor may see, as display text, under each field's names."""
    values: dict[str, str] = {}
    for spec in schema.fields_for(actor):
        if spec.is_reference:
            text = _reference_text(spec, spec.get_value(record), record, schema, actor)
        else:
            try:
                text = spec.display(record)
            except (TypeError, ValueError, AttributeError):
                text = ""
        for name in {spec.key, spec.api_name, name_of(spec.label_en)} - {""}:
            values.setdefault(name, text)
    values["title"] = values.get(schema.title_field, str(record))
    values["id"] = str(record.pk)
    values["module"] = schema.label
    values["url"] = settings.SITE_URL.rstrip("/") + record.get_absolute_url()
    return values


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(subject: str, body: str, values: dict[str, str], rule_name: str = "") -> Rendered:
    """Subject (one line), plain text and HTML (autoescaped) of a template for these values."""
    check_template(subject, "subject")
    check_template(body, "body")
    context = {"record": dict(values), "rule": rule_name}
    subject_text = _ENGINE_TEXT.from_string(subject).render(Context(context, autoescape=False))
    subject_text = " ".join(subject_text.split())[:255]  # one header line: no injected headers
    text = _ENGINE_TEXT.from_string(body).render(Context(context, autoescape=False))
    # The body is plain text: the HTML part is that text escaped in full (values and the
    # template's own text alike, so neither a "<" typed by the author nor `|safe` on a value can
    # put markup in the mail), with paragraphs and clickable links.
    html = linebreaks(urlize(escape(text), nofollow=True))
    return Rendered(subject_text, text, html)
