"""In-app notifications to a tenant's users (the navbar badge, the list page and API) with an e-mail copy: approvals
waiting or decided, pushes refused. Any app may notify; this app knows nothing of why."""
