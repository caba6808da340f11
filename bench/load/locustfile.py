"""Locust users for bench/bench_concurrency.py: reviewers on the list, detail, bulk preview and API of the bench tenant.

Not run on its own: the bench script starts the server, writes the parameters file (``LOAD_PARAMS``: tenant slug,
user, password, API token, document ids) and runs ``locust --headless`` on this file against 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, between, task

PARAMS = json.loads(open(os.environ["LOAD_PARAMS"]).read())  # noqa: SIM115, PTH123 - read once at import
SLUG = PARAMS["slug"]
FILTERS = ["", "?action=N", "?section=b2b", "?number=00029", "?sort=-value", "?period=" + PARAMS["period"]]


class Reviewer(HttpUser):
    """One person at the desk: mostly the list and documents, sometimes a bulk preview, an ERP on the API."""

    wait_time = between(0.5, 1.5)  # think time between clicks

    def on_start(self):
        self.client.get("/accounts/login/", name="login form")
        token = self.client.cookies.get("csrftoken")
        answer = self.client.post(
            "/accounts/login/",
            {"username": PARAMS["username"], "password": PARAMS["password"], "csrfmiddlewaretoken": token},
            name="login",
            allow_redirects=False,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"login failed: {answer.status_code}")
        self.csrf = self.client.cookies.get("csrftoken")

    @task(5)
    def list_page(self):
        self.client.get(f"/t/{SLUG}/documents/{random.choice(FILTERS)}", name="list page")  # noqa: S311

    @task(3)
    def detail_page(self):
        doc = random.choice(PARAMS["ids"])  # noqa: S311
        self.client.get(f"/t/{SLUG}/documents/{doc}/", name="detail page")

    @task(1)
    def bulk_preview(self):
        ids = random.sample(PARAMS["ids"], 50)
        self.client.post(
            f"/t/{SLUG}/actions/confirm/",
            {"action": "A", "ids": ids, "csrfmiddlewaretoken": self.csrf},
            name="bulk preview (50 documents)",
        )

    @task(3)
    def api_list(self):
        self.client.get(
            f"/api/v1/t/{SLUG}/documents/?page_size=50{random.choice(['', '&action=N', '&section=b2b'])}",  # noqa: S311
            headers={"Authorization": f"Token {PARAMS['token']}"},
            name="API list",
        )


class Floor(HttpUser):
    """The floor: the same server answering a static file (WSGI, no database, no template)."""

    wait_time = between(0.5, 1.5)

    @task
    def static(self):
        self.client.get("/static/js/app.js", name="static file (floor)")
