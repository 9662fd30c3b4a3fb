"""The byte layout of saved detector state, and its versions.

``MAGIC``, the ``FORMAT`` byte, the header length (4 bytes, big-endian), the header (orjson),
then the raw bytes of every numpy array, back to back. The header is::

    {"state": STATE_VERSION, "types": [[class name, [field, ...] or null], ...],
     "arrays": [[dtype, shape, offset, nbytes], ...], "root": node}

A node is a JSON scalar (null, bool, 64-bit int, finite float, string), a JSON object (a dict
with str keys) or a list led by a tag: ``f`` non-finite float, ``n`` big int, ``t`` tuple,
``F`` frozenset, ``l`` list, ``d`` dict, ``C`` Counter, ``q`` deque (maxlen first), ``s`` set,
``a`` array (index into ``arrays``), ``o`` object (type index, then its fields' values), ``h``
object saved by its own ``to_state`` (type index, state), ``r`` shared object (by name) and
``m`` an object met before (aliases and cycles survive a round trip). Arrays, lists, dicts,
Counters, deques, sets and objects are numbered in the order they are first met.

``FORMAT`` versions this layout; ``STATE_VERSION`` versions what the registered classes' fields
mean. State of another version is refused, and the caller rebuilds it from the stream.
"""

from __future__ import annotations

import struct

MAGIC = b"KDDS"
FORMAT = 1
STATE_VERSION = 9  # bump on any change to a registered class's fields (tests/state pins them)
MAX_DEPTH = 100  # nesting of nodes; real state is about 10 deep
DTYPES = frozenset(
    ["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"]
)
PREFIX = struct.Struct(">4sBI")  # magic, format, header length
