"""The admin's Django base classes, generic in their model for the type checker only.

django-stubs makes ``ModelAdmin``, ``TabularInline`` and ``ModelForm`` generic in the model they
edit, so ``ModelAdmin[Connection]`` types ``obj``, querysets and forms. Django's own classes cannot be
subscripted at run time (django-stubs-ext's ``monkeypatch()`` would patch them, as one more runtime
dependency). Here the subscripted name is the stubs' generic for the type checker and Django's plain
class at run time, so every admin class keeps exactly the bases it would have without the parameter.
Use these names only as subscripted base classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin, TabularInline
    from django.forms import ModelForm
else:
    from django import forms
    from django.contrib import admin

    class _Unparameterised:
        """``Name[Model]`` → Django's class itself: the parameter is for the type checker."""

        def __init__(self, cls: type) -> None:
            self._cls = cls

        def __getitem__(self, model: object) -> type:
            return self._cls

    ModelAdmin = _Unparameterised(admin.ModelAdmin)
    TabularInline = _Unparameterised(admin.TabularInline)
    ModelForm = _Unparameterised(forms.ModelForm)

__all__ = ["ModelAdmin", "ModelForm", "TabularInline"]
