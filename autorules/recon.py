"""Where auto-action rules read reconciliation outcomes.

A rule's ``reconciliation`` condition compiles to the document filter's ``reconciliation`` parameter
(:func:`autorules.conditions.to_filters`), so the documents are selected by ``invoices.recon_filter`` (the one
place that knows how reconciliation results are stored) whenever the bulk action runs the filter, in the request
or later in a worker. Rules only read here which run is the latest of each GSTIN, for the dry run's note.
"""

from __future__ import annotations

from invoices.recon_filter import LatestRuns, latest_runs

__all__ = ["LatestRuns", "latest_runs"]
