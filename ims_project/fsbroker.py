"""The filesystem broker of a machine without Redis (``make run`` with no ``REDIS_URL``): kombu's own, except that a
message is written whole before it appears.

kombu's filesystem transport creates a message's file and then writes into it, while a consumer moves and reads any
file it finds, without a lock: a consumer that came between the two read an empty message, and the worker stopped
with "Unrecoverable error: JSONDecodeError" (seen in CI, 07-12-2026). Here the message is written under a name no
consumer takes (it does not end in ``.<queue>.msg`` after its first dot) and renamed into place, which is atomic
within one folder.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

ALIAS = "imsfs"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".partial-{name}")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> str:
    """Make ``imsfs://`` name this transport; returns the broker URL."""
    TRANSPORT_ALIASES[ALIAS] = f"{__name__}:Transport"
    return f"{ALIAS}://"
