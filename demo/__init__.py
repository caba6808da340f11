"""Demo tenant, users and data for `make run` (`manage.py seed_demo`) and the sandbox portal seeded with them. Not a
feature of the product: nothing in a product app imports it."""
