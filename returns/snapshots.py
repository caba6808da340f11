"""Compact per-document entries of a preview snapshot: (document id, bucket index, ITC in paise), zlib-packed.

500,000 documents take a few MB; encoding and decoding are array operations, so a diff costs well under a second.
"""

from __future__ import annotations

import zlib
from array import array
from decimal import Decimal


class Entries:
    def __init__(self):
        self.ids, self.buckets, self.paise = array("q"), array("H"), array("q")

    def add(self, doc_id: int, bucket: int, itc: Decimal) -> None:
        self.ids.append(doc_id)
        self.buckets.append(bucket)
        self.paise.append(int(itc * 100))

    def extend(self, ids, bucket: int, paise) -> None:
        """Many documents of one bucket at once (ITC already in paise)."""
        self.ids.extend(ids)
        self.buckets.extend([bucket] * len(ids))
        self.paise.extend(paise)

    def __len__(self) -> int:
        return len(self.ids)

    def pack(self) -> bytes:
        n = len(self.ids).to_bytes(8, "little")
        return zlib.compress(n + self.ids.tobytes() + self.buckets.tobytes() + self.paise.tobytes(), 1)

    @classmethod
    def unpack(cls, blob: bytes | memoryview | None) -> Entries:
        out = cls()
        if not blob:
            return out
        raw = zlib.decompress(bytes(blob))
        n = int.from_bytes(raw[:8], "little")
        a, b = 8 + 8 * n, 8 + 10 * n
        out.ids.frombytes(raw[8:a])
        out.buckets.frombytes(raw[a:b])
        out.paise.frombytes(raw[b : b + 8 * n])
        return out

    def coded(self, codes: list[int]) -> dict[int, int]:
        """{document id: ITC in paise × 4096 + ``codes[bucket]``} (codes < 4096, ITC ≥ 0)."""
        return dict(
            zip(
                self.ids,
                [p << 12 | codes[b] for b, p in zip(self.buckets, self.paise, strict=True)],
                strict=True,
            )
        )

    def as_dict(self) -> dict[int, tuple[int, int]]:
        return dict(zip(self.ids, zip(self.buckets, self.paise, strict=True), strict=True))
