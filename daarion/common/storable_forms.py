"""The input rules (daarion/common/input_rules.py) for every admin form, in one place.

`DaarionAdminSite.register` (daarion/server/admin_site.py) wraps each registered ModelAdmin with
`StorableInputAdminMixin`, so the add/change form, every inline formset and the changelist's
editable rows refuse NUL, lone UTF-16 surrogates and JSON nested deeper than MAX_JSON_DEPTH as a
form error on the field — not a database error (500) at save or at every later read.

Per form, each text field gets `validate_storable_text` and each JSON field
`validate_storable_json` (they run before the form's own `clean_<field>`, so a schema compiler
never sees a hostile value), JSON that is too deep for the parser itself is a form error too,
and after the fields are cleaned every cleaned value is checked again (values a
`clean_<field>` produced).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from daarion.common.input_rules import (
    text_problem,
    validate_storable_json,
    validate_storable_text,
)


class _ParserSafeJSONField(forms.JSONField):
    """forms.JSONField, but JSON too deep for Python's parser is a form error, not a 500."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError(
                "The JSON is nested too deeply to be read.", code="invalid_json_value"
            ) from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return super().has_changed(initial, data)
        except RecursionError:
            return True

    def prepare_value(self, value: Any) -> Any:
        # As Django's, but a refused value is redisplayed escaped (a lone surrogate cannot be
        # encoded as UTF-8 in the page).
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        try:
            text = json.dumps(value, ensure_ascii=False, cls=self.encoder)
            if text_problem(text):
                text = json.dumps(value, ensure_ascii=True, cls=self.encoder)
        except (RecursionError, ValueError, TypeError):
            return "null"
        return text


def _check_value(value: Any) -> None:
    if isinstance(value, str):
        validate_storable_text(value)
    elif isinstance(value, (dict, list)):
        validate_storable_json(value)


class StorableInputFormMixin:
    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.JSONField):
                if type(field) is forms.JSONField:
                    field.__class__ = _ParserSafeJSONField
                field.validators.append(validate_storable_json)
            elif isinstance(field, forms.CharField):
                field.validators.append(validate_storable_text)

    def _clean_fields(self) -> None:
        super()._clean_fields()  # type: ignore[misc]
        for name, value in list(self.cleaned_data.items()):
            try:
                _check_value(value)
            except ValidationError as error:
                self.add_error(name, error)  # type: ignore[attr-defined]


def storable_form(form_class: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """`form_class` with the input rules (admin builds a form class per request anyway)."""
    if issubclass(form_class, StorableInputFormMixin):
        return form_class
    return type(form_class.__name__, (StorableInputFormMixin, form_class), {})


def storable_formset(formset_class: Any) -> Any:
    original = formset_class.form
    form = storable_form(original)
    if form is original:
        return formset_class
    return type(formset_class.__name__, (formset_class,), {"form": form})


class StorableInputAdminMixin:
    """For ModelAdmin subclasses: every form they build applies the input rules."""

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any):
        return storable_form(super().get_form(request, obj, change=change, **kwargs))  # type: ignore[misc]

    def get_formsets_with_inlines(self, request: Any, obj: Any = None):
        for formset, inline in super().get_formsets_with_inlines(request, obj):  # type: ignore[misc]
            yield storable_formset(formset), inline

    def get_changelist_form(self, request: Any, **kwargs: Any):
        return storable_form(super().get_changelist_form(request, **kwargs))  # type: ignore[misc]

    def get_changelist_formset(self, request: Any, **kwargs: Any):
        return storable_formset(super().get_changelist_formset(request, **kwargs))  # type: ignore[misc]
