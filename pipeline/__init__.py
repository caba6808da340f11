"""The top floor: what runs after what (``flows.py``). No app imports it; it imports the apps whose services it
calls next."""
