"""The connector's commands refuse an argument no database can store, naming it (a CommandError).

A shell passes bytes that are not UTF-8 to Python as unpaired surrogates (``\\udc80`` – ``\\udcff``),
and ``call_command`` can pass a NUL: either failed at the first query naming it, with a traceback
(``UnicodeEncodeError``; PostgreSQL's ``DataError`` for NUL). A file path is exempt (``paths``):
a Linux file name may be any bytes, and it is never stored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError

from calendly_sync.storable import text_problem


class TextCommand(BaseCommand):
    paths: ClassVar[tuple[str, ...]] = ()  # options that name files, not text

    def execute(self, *args: Any, **options: Any) -> Any:
        for name, value in options.items():
            if name in self.paths:
                continue
            for item in value if isinstance(value, (list, tuple)) else [value]:
                problem = text_problem(item) if isinstance(item, str) else None
                if problem:
                    raise CommandError(f"the argument {name!r} {problem}: give it as UTF-8 text")
        return super().execute(*args, **options)
