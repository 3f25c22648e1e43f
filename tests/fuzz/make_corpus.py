#!/usr/bin/env python3
"""Writes the seed corpora for the libFuzzer targets (run from anywhere).

corpus/request/: raw request payloads for fuzz_request.
corpus/frame/:   2 control bytes (chunk seed, frame limit) + a framed stream
                 for fuzz_frame.
Seeds include valid requests of every op and the known MessagePack bombs.
Needs no msgpack module: the few types used are encoded by hand.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v < 2**16:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b if len(b) < 256 else b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, list):
        assert len(v) < 16
        return bytes([0x90 | len(v)]) + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        assert len(v) < 16
        return bytes([0x80 | len(v)]) + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(v)


def req(op, id_=1, **fields):
    return pack({"v": 1, "id": id_, "op": op, **fields})


ALLOCATION = {
    "id": 7, "app": "myapp", "instance": "main", "service": "postgres", "port": 5432,
    "pool": "db", "description": "main db", "worktree": "/home/dev/myapp", "pid": 4242,
    "allocated_by": "dev@host", "created_at": "2025-02-08T15:04:05Z",
    "expires_at": "2025-02-09T15:04:05Z",
}

REQUESTS = {
    "hello": req("hello"),
    "health": req("health", 2),
    "stats": req("stats", 3),
    "export": req("export", 4),
    "watch": req("watch", 5),
    "allocate_min": req("allocate", 6, app="myapp", instance="main", service="web"),
    "allocate_full": req("allocate", 7, app="myapp", instance="feat-x", service="api",
                         port=3000, pool="web", description="API server",
                         worktree="/src/myapp-feat-x", pid=1234, ttl=3600, replace=True,
                         force=False),
    "check": req("check", 8, port=8080),
    "list_all": req("list", 9),
    "list_filter": req("list", 10, app="myapp", instance="main", service="web", port=3000),
    "release_id": req("release", 11, allocation_id=42),
    "release_filter": req("release", 12, app="myapp", instance="main"),
    "gc_dry": req("gc", 13, dry_run=True),
    "import": req("import", 14, allocations=[ALLOCATION, dict(ALLOCATION, id=8, port=5433,
                                                               created_at=1700000000)],
                  replace=True),
    "unknown_op": req("frobnicate", 15),
    "v2": pack({"v": 2, "id": 16, "op": "health"}),
    "bad_port": req("check", 17, port=70000),
    "no_filter": req("release", 18),
    "bad_name": req("allocate", 19, app="a/b", instance="main", service="web"),
    "unknown_field": req("health", 20, colour=[1, {"k": None}]),
    "minimal": pack({"op": "health"}),
    "not_map": pack(["op", "health"]),
    "trailing": req("health") + b"\xc0",
    "truncated": req("allocate", 21, app="myapp", instance="main", service="web")[:-3],
    "bomb_array32": b"\xdd\xff\xff\xff\xff",
    "bomb_map32": b"\xdf\xff\xff\xff\xff",
    "bomb_str32": b"\xdb\xff\xff\xff\xff",
    "bomb_nested_array16": b"\xdc\xff\xff" * 2000,
    "bomb_in_import": b"\x82" + pack("op") + pack("import") + pack("allocations")
    + b"\xdd\xff\xff\xff\xff",
    "deep_nesting": b"\x91" * 1000 + b"\xc0",
    "ext": b"\x82" + pack("op") + pack("health") + pack("x") + b"\xd4\x01\x00",
}


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


FRAMES = {
    "pipelined": b"\x00\x00" + b"".join(frame(REQUESTS[k]) for k in
                                        ("hello", "allocate_full", "check", "list_filter",
                                         "release_id", "gc_dry", "import")),
    "split_small_limit": b"\x37\x08" + frame(REQUESTS["health"]) + frame(REQUESTS["import"]),
    "zero_length": b"\x05\x00" + frame(REQUESTS["health"]) + b"\x00\x00\x00\x00",
    "four_gib": b"\x09\x00" + b"\xff\xff\xff\xff" + b"x" * 16,
    "bombs": b"\x11\x00" + b"".join(frame(REQUESTS[k]) for k in
                                    ("bomb_array32", "bomb_map32", "bomb_nested_array16",
                                     "trailing", "health")),
    "partial": b"\x21\x00" + frame(REQUESTS["allocate_min"])[:-2],
}


def write(sub, items):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    for name, data in items.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("request", REQUESTS)
write("frame", FRAMES)
