"""The API's JSON parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]): DRF's, with the hostile bodies of issue #13
refused as 400 naming where they are instead of reaching a view (or PostgreSQL) and failing there
(ims_project.jsonlimits):

* nesting deeper than ``MAX_DEPTH`` (3,000 levels ran Python out of recursion: a 500);
* a number that is not finite (``1e309`` parses as infinity) or has more digits than Python converts
  (``sys.get_int_max_str_digits()``, 4,300);
* a NUL character in any string or key (PostgreSQL text cannot hold one).
"""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .jsonlimits import MAX_DEPTH, HostileJSON, check, finite_float, no_constant


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.load(
                codecs.getreader(encoding)(stream),
                parse_float=finite_float,
                parse_constant=no_constant if self.strict else None,
            )
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from exc
        except ValueError as exc:  # malformed, too many digits (Python's int_max_str_digits), not UTF-8
            raise ParseError(f"JSON parse error - {exc}") from exc
        try:
            check(data)
        except HostileJSON as exc:
            raise ParseError({exc.where or "non_field_errors": [exc.message]}) from exc
        return data
