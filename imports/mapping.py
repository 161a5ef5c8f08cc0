"""Which field each column goes to: the fields a user may fill by import, and the automatic match
of column names to them by key, API name or label in English or Chinese."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from access.decisions import decide_module, module_field_rules

OWNER = "owner"
# Types a duplicate can be matched on: values a person recognises a record by.
MATCH_TYPES = ("text", "email", "phone")
# Other names people give these columns, used when the module has one field of the type.
SYNONYMS = {
    "email": ("email", "mail", "emailaddress", "邮箱", "电子邮件", "电子邮箱", "邮件"),
    "phone": ("phone", "mobile", "tel", "telephone", "phonenumber", "手机", "电话", "手机号", "手机号码", "联系电话"),
}
TITLE_NAMES = ("title", "name", "标题", "名称", "主题")
OWNER_NAMES = ("owner", "负责人", "所有者", "拥有者", "owneremail")


def normalise(name: str) -> str:
    """A column name as compared: case, spaces, punctuation and required marks ignored."""
    return re.sub(r"[\s_\-*:：()（）.\[\]【】]+", "", str(name)).casefold()


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    spec: Any  # the FieldSpec, None for the owner


def targets(schema: Any, user: Any) -> list[Target]:
    """The fields the user may fill by import: editable, neither hidden nor read-only for them
    (the decision point's field rules for a new record), and the owner of new records for those
    who may give records to others (the "change owner" decision)."""
    hidden, read_only = module_field_rules(user, schema)
    found = [Target(spec.key, spec.label, spec) for spec in schema.fields_for(user)
             if spec.editable and spec.type != "file" and spec.key not in hidden and spec.key not in read_only]
    if decide_module(user, schema, "change_owner").allowed:
        found.append(Target(OWNER, _("Owner (new records)"), None))
    return found


def names_of(target: Target) -> set[str]:
    spec = target.spec
    if spec is None:
        return {normalise(name) for name in OWNER_NAMES}
    names = {spec.key, spec.api_name, spec.label_zh}
    for language in ("en", "zh-hans"):
        with translation.override(language):
            names.add(str(spec.label_en))
    return {normalise(name) for name in names if name}


def auto_map(headers: list[str], choices: list[Target], template: dict[str, str] | None = None,
             title_field: str = "") -> dict[str, str]:
    """column index (as text) -> field key, for the columns whose name matches a field. A saved
    template's choice for a column of that name comes first (its "do not import" too). Each
    field is taken by one column at most."""
    by_name: dict[str, str] = {}
    for target in choices:
        for name in names_of(target):
            by_name.setdefault(name, target.key)
    for type_name, synonyms in SYNONYMS.items():
        of_type = [t for t in choices if t.spec is not None and t.spec.type == type_name]
        if len(of_type) == 1:
            for name in synonyms:
                by_name.setdefault(normalise(name), of_type[0].key)
    if title_field in {t.key for t in choices}:
        for name in TITLE_NAMES:
            by_name.setdefault(normalise(name), title_field)
    valid = {t.key for t in choices}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        name = normalise(header)
        key = template[name] if template is not None and name in template else by_name.get(name)
        if key and key in valid and key not in taken:
            mapping[str(index)] = key
            taken.add(key)
    return mapping


def match_choices(choices: list[Target]) -> list[Target]:
    """The fields a duplicate may be matched on."""
    return [t for t in choices if t.spec is not None and t.spec.type in MATCH_TYPES]


def default_match(choices: list[Target], mapping: dict[str, str], title_field: str) -> list[str]:
    """Match on e-mail when a column holds it, else phone, else the record's name."""
    mapped = set(mapping.values())
    for type_name in ("email", "phone"):
        keys = [t.key for t in match_choices(choices) if t.spec.type == type_name and t.key in mapped]
        if keys:
            return keys[:1]
    return [title_field] if title_field in mapped else []
