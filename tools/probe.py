"""A black-box probe of the product (issue #13): every route of the URL resolver, called in-process through Django's
test client against the database configured (the demo organisation must be seeded: ``manage.py seed_demo``).

1. Routes × roles: every route, GET, as each demo user (owner, admin, approver, preparer, viewer), anonymous, and
   as the owner of another organisation. A 500 is counted; a page of the demo organisation answered to the other
   organisation's owner with the demo's data in it is a leak.
2. Hostile values: every route, as the demo owner, with every query, form and JSON field name the code reads (found
   in the source and in the forms, filters and serializers) set to each hostile value (NUL bytes, ``x`` where a
   number goes, ``1e309``, numbers too big for PostgreSQL, non-ASCII, 300,000 characters, JSON nested 3,000 deep, a
   100,000-digit number, hostile files). Every request runs in a transaction rolled back afterwards, so the probe
   changes nothing. A 500 is bisected down to the field that caused it.

``scripts/probe.py`` (``make probe``) prints the figures; ``tests/hostile/test_probe.py`` holds them at zero.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver

from audit.services import Actor
from demo.services import DEMO_SLUG, DEMO_USERS
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.models import Registration, Tenant
from tenancy.scoping import scopes_disabled, tenant_scope

TENANT_ARG = "<slug:tenant_slug>"
_ARG = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
ROOT = Path(__file__).resolve().parent.parent
PRODUCT_ROOMS = [
    *("actions", "approvals", "audit", "autorules", "exports", "gst_sync", "invoices", "notifications"),
    *("pipeline", "reconciliation", "returns", "suppliers", "tenancy", "trail", "ims_project"),
]
# Names the code reads from a request: request.GET.get("q"), request.data["ids"], cleaned_data["period"], ...
_READ = re.compile(
    r"(?:GET|POST|query_params|data|FILES|cleaned_data|params)(?:\.get|\.getlist|\.pop)?[\(\[]\s*[\"']([a-z_0-9]+)[\"']"
)
_DECLARED = re.compile(
    r"^\s+([a-z_][a-z_0-9]*)\s*=\s*(?:forms|serializers|filters|django_filters)\.\w+\(", re.M
)

NUMBER_TOO_BIG = "9" * 30
HOSTILE_VALUES: dict[str, str] = {
    "not a number": "x",
    "NUL byte": "a\x00b",
    "number too big": NUMBER_TOO_BIG,
    "1e309": "1e309",
    "NaN": "NaN",
    "negative": "-1",
    "non-ASCII": "\u00fcn\u00efc\u00f6d\u00e9 \u540d\u524d \U0001f600",
    "not a date": "2026-13-45",
    "20,000 characters": "A" * 20_000,  # in every field at once: bigger than any index row PostgreSQL takes
}
# JSON bodies (the API): each value under every field name, plus bodies that break parsers themselves.
HOSTILE_JSON_VALUES: dict[str, object] = {
    "not a number": "x",
    "NUL byte": "a\x00b",
    "number too big": int(NUMBER_TOO_BIG),
    "1e309": "1e309",
    "non-ASCII": "\u00fcn\u00efc\u00f6d\u00e9 \u540d\u524d",
    "20,000 characters": "A" * 20_000,
    "list": ["x", "\x00"],
    "object": {"a": "\x00"},
    "null": None,
    "boolean": True,
}
HOSTILE_JSON_BODIES: dict[str, str] = {
    "JSON nested 3,000 deep": "[" * 3000 + "]" * 3000,
    "100,000-digit number": '{"a": ' + "9" * 100_000 + "}",
    "1e309 literal": '{"a": 1e309}',
    "not JSON": "{'a':",
    "NUL in JSON": '{"a": "\\u0000"}',
}


def hostile_files() -> dict[str, tuple[str, bytes]]:
    """Files sent under every file field: name and content."""
    long_csv = b"gstin,name,email\n27AAAAA0000A1Z5," + b"A" * 300_000 + b",a@b.in\n"
    return {
        "300,000-character CSV field": ("suppliers.csv", long_csv),
        "NUL bytes in CSV": ("suppliers.csv", b"gstin,name\n27AAAAA0000A1Z5,a\x00b\n"),
        "not UTF-8": ("suppliers.csv", b"\xff\xfe\xfa\xfb,\x80\x81\n"),
        "empty file": ("empty.csv", b""),
        "not a workbook": ("register.xlsx", b"PK\x03\x04 not really a zip"),
        "JSON nested 3,000 deep": ("portal.json", b"[" * 3000 + b"]" * 3000),
        "100,000-digit number in JSON": ("portal.json", b'{"b2b": [{"val": ' + b"9" * 100_000 + b"}]}"),
        "NUL in portal JSON": ("portal.json", b'{"gstin": "\\u0000", "b2b": [{"ctin": "a\\u0000"}]}'),
    }


@dataclass
class Failure:
    route: str
    method: str
    what: str
    field: str
    error: str


@dataclass
class Figures:
    routes: int = 0
    roles: int = 0
    requests: int = 0
    server_errors: int = 0
    leaks: int = 0
    bad_inputs_sent: int = 0
    bad_inputs_refused: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    leak_details: list[str] = field(default_factory=list)
    # The bounded fault run (tests/faults/job_faults.py, run by scripts/probe.py): its summary, None when not run.
    faults: dict | None = None

    def lines(self) -> list[str]:
        out = [
            f"routes x roles: {self.routes} x {self.roles}",
            f"requests: {self.requests}",
            f"500s: {self.server_errors}",
            f"leaks: {self.leaks}",
            f"bad inputs sent: {self.bad_inputs_sent}",
            f"bad inputs refused (4xx): {self.bad_inputs_refused}",
            *self.fault_lines(),
            "statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())),
        ]
        out += [f"  500 {f.method} {f.route} [{f.what}] field {f.field!r}: {f.error}" for f in self.failures]
        out += [f"  leak {detail}" for detail in self.leak_details]
        return out

    def fault_lines(self) -> list[str]:
        if self.faults is None:
            return ["faults survived: not covered by this probe", "stuck jobs: not covered by this probe"]
        f = self.faults
        kinds = ", ".join(f"{k} {n}" for k, n in f["by_kind"].items())
        return [
            f"fault run: {f['jobs']} jobs ({kinds}), two workers, {f['seconds']} s",
            f"faults injected: {f['faults_injected']} (a worker killed with SIGKILL mid-job, Redis stopped, every "
            "job delivered twice)",
            f"faults survived: {f['faults_survived']}",
            f"stuck jobs: {f['stuck']}",
            f"jobs done twice in effect: {f['duplicates']}",
            f"jobs failed: {f['failed']}",
        ]


def iter_routes(patterns=None, prefix: str = "") -> Iterator[str]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from iter_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def probe_routes() -> list[str]:
    """Every route that a path can name (regular-expression routes of the admin are left out)."""
    return sorted({r for r in iter_routes() if "^" not in r and "(?P" not in r})


def field_names() -> tuple[list[str], list[str]]:
    """(every field name the product reads from a request, the file field names)."""
    names: set[str] = set()
    for room in PRODUCT_ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            names.update(_READ.findall(text))
            names.update(_DECLARED.findall(text))
    files = {"file", "files", "upload"}
    return sorted(names - files), sorted(files)


def tenant_models():
    return [
        m
        for m in apps.get_models()
        if any(f.name == "tenant" and f.related_model is Tenant for f in m._meta.concrete_fields)
    ]


class World:
    """An organisation's users (one per role) and ids, and another organisation whose owner must see none of it."""

    OTHER_SLUG = "probe-other"

    def __init__(self, tenant: Tenant, users: dict, stranger) -> None:
        """``users``: role → user of ``tenant``; ``stranger``: the owner of another organisation."""
        self.tenant, self.users, self.stranger = tenant, users, stranger
        with scopes_disabled():
            self.registrations = list(Registration.objects.filter(tenant=self.tenant).order_by("pk"))
            self.ids = {
                m._meta.model_name: list(
                    m._base_manager.filter(tenant=self.tenant)
                    .order_by("-pk")
                    .values_list("pk", flat=True)[:1]
                )
                for m in tenant_models()
            }
        self.markers = [self.tenant.name, *(r.gstin for r in self.registrations)]
        self.period = self._period()
        self.paths: dict[str, str] = {}

    @classmethod
    def demo(cls) -> World:
        """The demo organisation (``manage.py seed_demo``) and, made here when missing, another one and its owner."""
        tenant = Tenant.objects.get(slug=DEMO_SLUG)
        users = get_user_model().objects
        actor = Actor.system("probe")
        other = Tenant.objects.filter(slug=cls.OTHER_SLUG).first()
        if other is None:
            other = tenancy_services.create_tenant(name="Probe Other Ltd", slug=cls.OTHER_SLUG, actor=actor)
        stranger = users.filter(username="probe-other-owner").first()
        if stranger is None:
            stranger = users.create_user("probe-other-owner", "probe-other@example.com", None)
        with tenant_scope(other):
            tenancy_services.add_member(tenant=other, actor=actor, user=stranger, role="owner")
        return cls(
            tenant, {str(role): users.get(username=name) for name, role, _grants in DEMO_USERS}, stranger
        )

    def _period(self) -> str:
        with scopes_disabled():
            doc = (
                SupplierDocument._base_manager.filter(tenant=self.tenant).order_by("-supplier_period").first()
            )
        return doc.supplier_period.strftime("%m%Y") if doc else "102026"

    def candidates(self, route: str) -> Iterator[str]:
        """Concrete paths for a route with the demo's identifiers; the model named by the segment before an id first."""
        args = [m for m in _ARG.finditer(route) if m["name"] != "tenant_slug"]
        base = "/" + route.replace(TENANT_ARG, self.tenant.slug)
        if not args:
            yield base
            return
        segments = route.split("/")
        ints = [m for m in args if m["conv"] == "int" and m["name"] != "registration_id"]
        hint = ""
        if ints:
            position = segments.index(ints[0].group(0)) if ints[0].group(0) in segments else 0
            hint = segments[position - 1].rstrip("s").replace("-", "") if position else ""
        models = sorted(self.ids, key=lambda name: (not hint or hint[:5] not in name, name))
        for model in models if ints else [""]:
            if ints and not self.ids[model]:
                continue
            path = base
            for m in args:
                if m["name"] == "registration_id":
                    value = str(self.registrations[0].pk)
                elif m["conv"] == "int":
                    value = str(self.ids[model][0])
                elif m["name"] == "period":
                    value = self.period
                else:
                    value = "x"
                path = path.replace(m.group(0), value, 1)
            yield path

    def path(self, route: str, client: Client) -> str:
        """The first candidate path the owner can open (or the first candidate), remembered per route."""
        if route not in self.paths:
            first = None
            for candidate in self.candidates(route):
                first = first or candidate
                if rolled_back(lambda c=candidate: client.get(c)).status_code < 400:
                    self.paths[route] = candidate
                    break
            else:
                self.paths[route] = first or "/"
        return self.paths[route]


def rolled_back(call: Callable):
    """Run one request in a transaction that is rolled back: the probe changes nothing."""
    with transaction.atomic():
        response = call()
        transaction.set_rollback(True)
    return response


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


class Probe:
    def __init__(
        self, *, world: World | None = None, routes: list[str] | None = None, hostile: bool = True
    ) -> None:
        self.world = world or World.demo()
        self.routes = routes if routes is not None else probe_routes()
        self.hostile = hostile
        self.figures = Figures(routes=len(self.routes))
        self.names, self.file_names = field_names()
        self._errors: list[BaseException] = []

    def _record(self, sender, request=None, **kwargs):
        self._errors.append(sys.exc_info()[1])

    def client(self, user=None) -> Client:
        client = Client(raise_request_exception=False)
        if user is not None:
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    def send(self, call: Callable, *, counted: bool = True) -> tuple[int, str]:
        """One request; ``counted=False`` for the repeats that name the field behind a 500 already counted."""
        self._errors.clear()
        response = rolled_back(call)
        self.figures.requests += 1
        self.figures.statuses[response.status_code] += 1
        error = repr(self._errors[-1])[:300] if self._errors else ""
        if response.status_code >= 500 and counted:
            self.figures.server_errors += 1
        return response.status_code, error

    def run(self) -> Figures:
        got_request_exception.connect(self._record)
        try:
            self.roles()
            if self.hostile:
                self.hostile_values()
        finally:
            got_request_exception.disconnect(self._record)
        return self.figures

    # --- 1. routes × roles ------------------------------------------------------------------------------------

    def roles(self) -> None:
        owner = self.client(self.world.users["owner"])
        callers = {role: self.client(user) for role, user in self.world.users.items()}
        callers["anonymous"] = self.client()
        callers["other organisation's owner"] = self.client(self.world.stranger)
        self.figures.roles = len(callers)
        for route in self.routes:
            path = self.world.path(route, owner)
            for role, client in callers.items():
                holder: dict = {}

                def call(c=client, p=path, h=holder):
                    h["response"] = c.get(p)
                    h["body"] = body(h["response"])
                    return h["response"]

                status, error = self.send(call)
                if status >= 500:
                    self.figures.failures.append(Failure(route, "GET", f"as {role}", "", error))
                if role == "other organisation's owner" and TENANT_ARG in route and status < 400:
                    leaked = [m for m in self.world.markers if m.encode() in holder["body"]]
                    if leaked:
                        self.figures.leaks += 1
                        self.figures.leak_details.append(f"{path}: {leaked}")

    # --- 2. hostile values ------------------------------------------------------------------------------------

    def hostile_values(self) -> None:
        for route in self.routes:
            # A fresh session per route: a request to the log-out page (or a password change) ends the last one.
            owner = self.client(self.world.users["owner"])
            path = self.world.path(route, owner)
            for what, value in HOSTILE_VALUES.items():
                self.attack(route, "GET", what, lambda fields, p=path, c=owner: c.get(p, fields), value)
                self.attack(route, "POST", what, lambda fields, p=path, c=owner: c.post(p, fields), value)
            if route.startswith("api/"):
                for method in ("post", "put", "patch"):
                    send = getattr(owner, method)
                    for what, value in HOSTILE_JSON_VALUES.items():
                        self.attack(
                            route,
                            method.upper(),
                            what,
                            lambda fields, p=path, s=send: s(
                                p, json.dumps(fields), content_type="application/json"
                            ),
                            value,
                        )
                    for what, raw in HOSTILE_JSON_BODIES.items():
                        self.bad_input(
                            route,
                            method.upper(),
                            what,
                            "(body)",
                            lambda p=path, s=send, r=raw: s(p, r, content_type="application/json"),
                        )
            if route.startswith("api/") or self._takes_files(route):
                for what, (name, content) in hostile_files().items():
                    for file_field in self.file_names:

                        def upload(p=path, f=file_field, n=name, c=content, o=owner):
                            fields = {
                                f: SimpleUploadedFile(n, c),
                                "registration": self.world.registrations[0].pk,
                            }
                            return o.post(p, {**fields, "kind": "ims", "type": "ims"})

                        self.bad_input(route, "POST", what, file_field, upload)

    def _takes_files(self, route: str) -> bool:
        return any(word in route for word in ("import", "files", "register", "upload"))

    def bad_input(self, route: str, method: str, what: str, name: str, call: Callable) -> int:
        status, error = self.send(call)
        self.figures.bad_inputs_sent += 1
        if 400 <= status < 500:
            self.figures.bad_inputs_refused += 1
        if status >= 500:
            self.figures.failures.append(Failure(route, method, what, name, error))
        return status

    def attack(self, route: str, method: str, what: str, send: Callable, value) -> None:
        """All field names at once; a 500 is bisected to the field (or fields) that cause it."""
        names = self.names

        def call(subset):
            return lambda: send(dict.fromkeys(subset, value))

        status, error = self.send(call(names))
        self.figures.bad_inputs_sent += 1
        if 400 <= status < 500:
            self.figures.bad_inputs_refused += 1
        if status < 500:
            return
        for name in self._bisect(names, call):
            _status, error = self.send(call([name]), counted=False)
            self.figures.failures.append(Failure(route, method, what, name, error))
        if not self.figures.failures or self.figures.failures[-1].route != route:
            self.figures.failures.append(Failure(route, method, what, "(several together)", error))

    def _bisect(self, names: list[str], call: Callable) -> list[str]:
        if len(names) == 1:
            return names
        half = len(names) // 2
        culprits = []
        for part in (names[:half], names[half:]):
            status, _ = self.send(call(part), counted=False)
            if status >= 500:
                culprits += self._bisect(part, call)
        return culprits


def run(*, world: World | None = None, routes: list[str] | None = None, hostile: bool = True) -> Figures:
    return Probe(world=world, routes=routes, hostile=hostile).run()
