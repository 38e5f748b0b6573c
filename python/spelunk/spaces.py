"""Spelunk's spaces as Gymnasium spaces, and flat observation buffers as their values.

An environment writes its observation into one flat buffer of one element type (bytes or
32-bit floats); a `Dict` space's members lie back to back in the order the space lists them.
`Layout` knows where each member lies and turns a buffer — one row, or `[num_envs, len]` —
into the value Gymnasium expects, by views where the member's type is the buffer's.
"""

import json

import numpy as np
from gymnasium import spaces

_DTYPES = {"U8": np.uint8, "F32": np.float32}
# Text observations are zero-padded UTF-8; the text views draw with ASCII and a few symbols
# (dashes, arrows, boxes), all below U+3000.
TEXT_CHARSET = frozenset(chr(i) for i in range(1, 0x3000))


def flat_len(space):
    kind, body = next(iter(space.items()))
    if kind == "Discrete":
        return 1
    if kind == "MultiDiscrete":
        return len(body["nvec"])
    if kind == "Box":
        return int(np.prod(body["shape"], dtype=np.int64))
    if kind == "MultiBinary":
        return body["n"]
    if kind == "Text":
        return body["max_length"]
    if kind == "Dict":
        return sum(flat_len(s) for _, s in body)
    raise ValueError(f"unknown space kind {kind!r}")


def to_gymnasium(space, views=False):
    """A Gymnasium space from Spelunk's JSON description (a str or the parsed dict).

    With `views` (the vector env's byte buffers), discrete members are `uint8`: their values
    are read in place rather than converted."""
    if isinstance(space, str):
        space = json.loads(space)
    kind, body = next(iter(space.items()))
    int_dtype = np.uint8 if views else np.int64
    if kind == "Discrete":
        return spaces.Discrete(body["n"], start=body.get("start", 0), dtype=int_dtype)
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.array(body["nvec"], dtype=np.int64), dtype=int_dtype)
    if kind == "Box":
        shape = tuple(body["shape"])
        dtype = _DTYPES[body["dtype"]]
        # JSON has no infinity: unbounded elements arrive as null.
        low = np.array([-np.inf if v is None else v for v in body["low"]], dtype=np.float32)
        high = np.array([np.inf if v is None else v for v in body["high"]], dtype=np.float32)
        low, high = low.reshape(shape), high.reshape(shape)
        if dtype == np.uint8:
            low, high = low.astype(np.uint8), high.astype(np.uint8)
        return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    if kind == "MultiBinary":
        return spaces.MultiBinary(body["n"])
    if kind == "Text":
        return spaces.Text(body["max_length"], min_length=0, charset=TEXT_CHARSET)
    if kind == "Dict":
        return spaces.Dict({name: to_gymnasium(s, views) for name, s in body})
    raise ValueError(f"unknown space kind {kind!r}")


def _decode_text(row):
    raw = bytes(np.asarray(row, dtype=np.uint8))
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


class Layout:
    """Where each part of an observation lies in the flat buffer, and how to read it."""

    def __init__(self, space_json, dtype, views=False):
        self.spec = json.loads(space_json) if isinstance(space_json, str) else space_json
        self.dtype = {"u8": np.uint8, "f32": np.float32}[dtype]
        self.views = views and self.dtype == np.uint8
        self.space = to_gymnasium(self.spec, self.views)
        self.len = flat_len(self.spec)

    def read(self, flat, batched=False, copy=True):
        """The value of a flat buffer: `[len]`, or `[n, len]` when batched."""
        return self._read(self.spec, flat, 0, batched, copy)

    def _read(self, spec, flat, off, batched, copy):
        kind, body = next(iter(spec.items()))
        n = flat_len(spec)
        part = flat[..., off : off + n]
        lead = part.shape[:-1]
        if kind == "Dict":
            out, o = {}, off
            for name, s in body:
                out[name] = self._read(s, flat, o, batched, copy)
                o += flat_len(s)
            return out
        if kind == "Discrete":
            v = part[..., 0]
            if not self.views:
                v = v.astype(np.int64)
            if batched:
                return v.copy() if copy and self.views else v
            return np.int64(v)
        if kind == "MultiDiscrete":
            v = part if self.views else part.astype(np.int64)
            return v.copy() if copy and self.views else v
        if kind == "Box":
            shape = tuple(body["shape"])
            want = _DTYPES[body["dtype"]]
            v = part.reshape(lead + shape)
            if v.dtype != want:
                return v.astype(want)
            return v.copy() if copy else v
        if kind == "MultiBinary":
            v = part.astype(np.int8)
            return v
        if kind == "Text":
            if batched:
                return tuple(_decode_text(r) for r in part)
            return _decode_text(part)
        raise ValueError(f"unknown space kind {kind!r}")
