"""Crafted and random .cemb files for the fuzz suite and the reliability run.

A *case* is a golden file plus one edit of its header, blob or array bytes, written with every
checksum recomputed (a malicious file, not an accident). ``run_cases`` loads each case and uses
the result the way the command line does, in one process whose address space is capped, and
records per case: "ok" (loaded and used), "format" (FormatError), or what else happened
(another exception with its type, "memory", "hang").

Run directly for the long run: ``python tests/_craft.py --random 5000 --json out.json``.
"""

from __future__ import annotations

import copy
import json
import os
import random
import struct
import sys
import zlib
from pathlib import Path

GOLDEN = Path(__file__).parent / "data" / "golden" / "v1"
_PREAMBLE = struct.Struct("<8sIIQQ")
_ALIGN = 64


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def parse(path) -> tuple[dict, dict[str, bytes]]:
    """(header, {array name: raw bytes}) of a valid file; entry offsets made relative."""
    data = Path(path).read_bytes()
    _, _, _, hlen, _ = _PREAMBLE.unpack_from(data)
    header = json.loads(data[_PREAMBLE.size:_PREAMBLE.size + hlen])
    payloads = {}
    for name, e in header["arrays"].items():
        payloads[name] = data[e["offset"]:e["offset"] + e["nbytes"]]
    base = min((e["offset"] for e in header["arrays"].values()), default=0)
    for e in header["arrays"].values():
        e["offset"] -= base
    return header, payloads


def build(header, payloads: dict[str, bytes], *, blob: bytes | None = None,
          keep_crc: bool = False, total_delta: int = 0) -> bytes:
    """Lay out a file: arrays at their (relative) offsets after the header, CRCs recomputed."""
    header = copy.deepcopy(header)
    arrays = header.get("arrays") if isinstance(header, dict) else None
    entries = arrays if isinstance(arrays, dict) else {}
    for name, e in entries.items():
        if isinstance(e, dict) and name in payloads and not keep_crc:
            e["crc32"] = zlib.crc32(payloads[name])
    if blob is None:
        probe = json.dumps(header, sort_keys=True).encode()
        start = _align(_PREAMBLE.size + len(probe) + 512)
        for e in entries.values():
            if isinstance(e, dict) and isinstance(e.get("offset"), int) \
                    and not isinstance(e.get("offset"), bool):
                e["offset"] += start
        blob = json.dumps(header, sort_keys=True).encode()
    else:
        start = _align(_PREAMBLE.size + len(blob))
    body = bytearray(max(start, _PREAMBLE.size + len(blob)))
    for name, e in entries.items():
        if not isinstance(e, dict) or name not in payloads:
            continue
        off = e.get("offset")
        if isinstance(off, int) and not isinstance(off, bool) and start <= off < (64 << 20):
            end = off + len(payloads[name])
            if len(body) < end:
                body.extend(bytes(end - len(body)))
            body[off:end] = payloads[name]
    total = len(body) + total_delta
    body[:_PREAMBLE.size] = _PREAMBLE.pack(b"CEMBFILE", 1, zlib.crc32(blob), len(blob),
                                           max(total, 0))
    body[_PREAMBLE.size:_PREAMBLE.size + len(blob)] = blob
    return bytes(body)


# -- edits ------------------------------------------------------------------------------------

_BAD_INTS = [0, -1, 1.5, 2 ** 31 - 1, 2 ** 40, 2 ** 62, 10 ** 30, "7", None, [], {}, True]
_BAD_STRS = ["", "zzz", "(a+)+$", 5, None, [], {"a": 1}]
_BAD_SHAPES = [[2 ** 70], [-1], [1.5], [2 ** 32, 2 ** 32], [2 ** 62, 4], [1] * 40, "3", None,
               [[3]], [3, "x"]]
_BAD_DTYPES = [">f4", ">i8", "O", "|O", "<U4", "V8", "<c8", "f4", ["<f4"], None, 4, ""]


def _walk_attrs(attrs, prefix=()):
    """(path, value) of every attribute, nested objects included."""
    for k, v in attrs.items():
        yield prefix + (k,), v
        if isinstance(v, dict):
            yield from _walk_attrs(v, prefix + (k,))


def _set(d, path, value):
    for k in path[:-1]:
        d = d[k]
    if value is _DELETE:
        del d[path[-1]]
    else:
        d[path[-1]] = value


_DELETE = object()


def crafted_cases():
    """Deterministic crafted cases: (case id, category, file bytes), over every golden file."""
    for path in sorted(GOLDEN.glob("*.cemb")):
        header, payloads = parse(path)
        stem = path.stem

        def case(category, label, h=None, p=None, *, stem=stem, header=header,
                 payloads=payloads, **kw):
            return (f"{stem}:{category}:{label}", category,
                    build(header if h is None else h, payloads if p is None else p, **kw))

        yield case("valid", "golden")
        # top-level types
        for field, values in (("kind", [["table"], 3, "nosuchkind", None, {}]),
                              ("meta", [[], "x", 3]), ("components", [[], "x"]),
                              ("arrays", [[], "x", None])):
            for v in values:
                h = copy.deepcopy(header)
                h[field] = v
                yield case("header-types", f"{field}={str(v)[:20]}", h)
        for field in ("kind", "arrays", "components"):
            h = copy.deepcopy(header)
            del h[field]
            yield case("header-types", f"no-{field}", h)
        # JSON limits
        for label, raw in (("nest1000", "[" * 1000 + "]" * 1000),
                           ("nest100000", "[" * 100000 + "]" * 100000),
                           ("digits100001", "1" * 100001), ("digits5000", "9" * 5000),
                           ("infinity", "Infinity"), ("nan", "NaN")):
            blob = json.dumps({**header, "meta": "@@"}, sort_keys=True).replace(
                '"@@"', raw).encode()
            yield case("json-limits", label, blob=blob)
        yield case("json-limits", "bad-utf8", blob=json.dumps(header).encode()
                   .replace(b'"kind"', b'"\xff\xfekind"', 1))
        yield case("json-limits", "not-object", blob=b"[1, 2, 3]")
        # array entries
        for name in header["arrays"]:
            for v in _BAD_SHAPES:
                h = copy.deepcopy(header)
                h["arrays"][name]["shape"] = v
                yield case("array-entries", f"{name}.shape={str(v)[:20]}", h)
            for v in _BAD_DTYPES:
                h = copy.deepcopy(header)
                h["arrays"][name]["dtype"] = v
                yield case("array-entries", f"{name}.dtype={v}", h)
            for v in [-64, 2 ** 63, 2 ** 70, 1.5, "0", None, 10 ** 9]:
                h = copy.deepcopy(header)
                h["arrays"][name]["offset"] = v
                yield case("array-entries", f"{name}.offset={v}", h)
            for v in [0, -1, 2 ** 64, "8"]:
                h = copy.deepcopy(header)
                h["arrays"][name]["nbytes"] = v
                yield case("array-entries", f"{name}.nbytes={v}", h)
            h = copy.deepcopy(header)
            del h["arrays"][name]
            yield case("array-entries", f"{name}.removed", h)
            h = copy.deepcopy(header)
            h["arrays"][name] = 7
            yield case("array-entries", f"{name}.not-object", h)
            # big-endian bytes declared as such (the reader refuses the dtype)
            e = header["arrays"][name]
            if e["dtype"][0] == "<":
                h = copy.deepcopy(header)
                h["arrays"][name]["dtype"] = ">" + e["dtype"][1:]
                yield case("array-entries", f"{name}.bigendian", h)
            # a product that wraps to 0 in int64 with nbytes 0
            h = copy.deepcopy(header)
            h["arrays"][name].update(shape=[2 ** 32, 2 ** 32], nbytes=0)
            yield case("array-entries", f"{name}.wrap0", h)
            # zero elements, but dimensions numpy cannot describe
            h = copy.deepcopy(header)
            h["arrays"][name].update(shape=[2 ** 40, 2 ** 40, 0], nbytes=0)
            yield case("array-entries", f"{name}.huge-empty", h)
        # component types and attributes
        for cname, desc in header["components"].items():
            for v in [["dense"], 3, "nosuchtype", None]:
                h = copy.deepcopy(header)
                h["components"][cname]["type"] = v
                yield case("component-types", f"{cname}.type={v}", h)
            for v in [[], "x"]:
                h = copy.deepcopy(header)
                h["components"][cname]["attrs"] = v
                yield case("component-types", f"{cname}.attrs={v}", h)
            for apath, value in list(_walk_attrs(desc.get("attrs", {}))):
                label = f"{cname}." + ".".join(apath)
                if isinstance(value, bool) or isinstance(value, (int, float)):
                    bad = _BAD_INTS + [-2 ** 31, 2 ** 27, 2 ** 31]
                elif isinstance(value, str):
                    bad = _BAD_STRS
                elif isinstance(value, dict):
                    bad = [[], "x", 3, {"unknown_keyword": 1, **value}]
                else:
                    bad = [3, "x", None]
                for v in bad + [_DELETE]:
                    h = copy.deepcopy(header)
                    _set(h["components"][cname]["attrs"], apath, v)
                    shown = "deleted" if v is _DELETE else str(v)[:16]
                    yield case("attributes", f"{label}={shown}", h)
        # array contents (checksums recomputed): extreme integers, bad UTF-8 keys
        for name, e in header["arrays"].items():
            raw = payloads[name]
            if not raw:
                continue
            for label, fill in (("ff", b"\xff"), ("7f", b"\x7f"), ("00", b"\x00"),
                                ("80", b"\x80")):
                p = dict(payloads)
                p[name] = fill * len(raw)
                yield case("array-contents", f"{name}.all{label}", p=p)
            if e["dtype"] in ("<i8", "<i4", "<u4", "<u8"):
                size = int(e["dtype"][2:])
                fmt = {"<i8": "<q", "<i4": "<i", "<u4": "<I", "<u8": "<Q"}[e["dtype"]]
                for v in (2 ** 31 - 1, -(2 ** 31), 2 ** 27):
                    if fmt in ("<I", "<Q") and v < 0:
                        continue
                    p = dict(payloads)
                    p[name] = struct.pack(fmt, v) * (len(raw) // size)
                    yield case("array-contents", f"{name}={v}", p=p)
        # the file size field
        for delta in (-1, 1, -64):
            yield case("sizes", f"total{delta:+d}", total_delta=delta)


def random_cases(n: int, seed: int = 0):
    """Random edits (attribute values, shapes, bytes) of random golden files."""
    rng = random.Random(seed)
    paths = sorted(GOLDEN.glob("*.cemb"))
    parsed = [(p.stem, *parse(p)) for p in paths]
    values = _BAD_INTS + _BAD_STRS + [2 ** 63, -(2 ** 63), 3, 4, 1, 2, 16, 0.0, 1e308]
    for i in range(n):
        stem, header, payloads = rng.choice(parsed)
        h, p = copy.deepcopy(header), dict(payloads)
        for _ in range(rng.randint(1, 3)):
            what = rng.random()
            if what < 0.45:
                cname = rng.choice(sorted(h["components"]))
                attrs = list(_walk_attrs(h["components"][cname].get("attrs", {})))
                if attrs:
                    apath, _ = rng.choice(attrs)
                    _set(h["components"][cname]["attrs"], apath, copy.deepcopy(rng.choice(values)))
            elif what < 0.7 and h["arrays"]:
                name = rng.choice(sorted(h["arrays"]))
                e = h["arrays"][name]
                shape = [rng.choice([0, 1, 2, 3, 7, 2 ** 31, 2 ** 40]) for _ in e["shape"]]
                e["shape"] = shape
                count = 1
                for s in shape:
                    count *= s
                e["nbytes"] = count * int(e["dtype"][2:]) if e["dtype"][1] in "iuf" else count
                if e["nbytes"] <= 4096:
                    p[name] = bytes(rng.getrandbits(8) for _ in range(e["nbytes"]))
            elif p:
                name = rng.choice(sorted(p))
                raw = bytearray(p[name])
                for _ in range(rng.randint(1, 4)):
                    if raw:
                        raw[rng.randrange(len(raw))] = rng.getrandbits(8)
                p[name] = bytes(raw)
        yield f"{stem}:random:{i}", "random", build(h, p)


# -- running ----------------------------------------------------------------------------------

def use(obj) -> None:
    """Use a loaded object as the command line does (neighbours, recommendations, ...)."""
    import numpy as np

    from compactemb.keyed import KeyedVectors
    from compactemb.recommend import FactorModel
    from compactemb.tables import EmbeddingTable
    from compactemb.vocab import Vocab

    if isinstance(obj, KeyedVectors):
        if len(obj.vocab):
            obj.neighbors([obj.vocab.keys[0]], k=3)
    elif isinstance(obj, FactorModel):
        if obj.n_users:
            obj.recommend([obj.user_vocab.keys[0]], k=3)
    elif isinstance(obj, EmbeddingTable):
        n = obj.n_rows
        rows = np.array(sorted({0, max(n - 1, 0)}), dtype=np.int64) if n else \
            np.zeros(0, np.int64)
        obj.lookup(rows)
    elif isinstance(obj, Vocab):
        list(obj.keys[:3])
    elif hasattr(obj, "predict"):
        obj.predict(["a few words of text here", "more"], k=1)


def run_cases(cases, workdir, *, timeout_s: float = 10.0, memory_mb: int = 1536,
              verbose: bool = False, sink=None) -> list[dict]:
    """Write and load each case in this process; returns one record per case.

    The address space grows by at most ``memory_mb`` over what it was on entry (a bigger claim
    shows as "memory"), and each case is stopped after ``timeout_s`` ("hang").
    """
    import resource
    import signal
    import time
    import traceback

    import compactemb  # noqa: F401
    from compactemb import CompactEmbError, FormatError, load

    # warm up what every case uses, so the numba compile does not count against a case
    for golden in sorted(GOLDEN.glob("*.cemb")):
        use(load(golden))
    if sink is not None:
        sink.write("warm\n")
        sink.flush()

    class Hang(Exception):
        pass

    def on_alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, on_alarm)
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    vm_now = pages * os.sysconf("SC_PAGE_SIZE")
    limit = vm_now + (memory_mb << 20)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    records = []
    path = os.path.join(workdir, "case.cemb")
    try:
        for case_id, category, data in cases:
            with open(path, "wb") as f:
                f.write(data)
            t0 = time.perf_counter()
            rec = {"case": case_id, "category": category}
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            try:
                for mmap in (False, True):
                    use(load(path, mmap=mmap))
                rec["result"] = "ok"
            except FormatError as exc:
                rec["result"] = "format"
                rec["message"] = str(exc)[:300]
            except Hang:
                rec["result"] = "hang"
            except MemoryError:
                rec["result"] = "memory"
            except CompactEmbError as exc:
                rec["result"] = f"other-error:{type(exc).__name__}"
                rec["message"] = str(exc)[:300]
            except Exception as exc:  # what the suite exists to find
                rec["result"] = f"traceback:{type(exc).__name__}"
                rec["message"] = "".join(traceback.format_exception_only(exc))[:400]
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            rec["seconds"] = round(time.perf_counter() - t0, 4)
            rec["peak_rss_mb"] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            records.append(rec)
            if sink is not None:
                sink.write(json.dumps(rec) + "\n")
                sink.flush()
            if verbose:
                sys.stderr.write(f"{rec['seconds']:8.3f} {rec['result']:<24} {case_id}\n")
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return records


def select_cases(crafted: bool, n_random: int, seed: int, only: str | None, stride: int = 1):
    """The cases of a run: the crafted corpus (every ``stride``-th case, plus every golden
    file unedited), random ones, those whose id contains one of the ``|``-separated ``only``."""
    cases = []
    if crafted:
        cases.extend(c for i, c in enumerate(crafted_cases())
                     if i % max(1, stride) == 0 or c[1] == "valid")
    if n_random:
        cases.extend(random_cases(n_random, seed))
    if only:
        wanted = only.split("|")
        cases = [c for c in cases if any(w in c[0] for w in wanted)]
    return cases


def _spec_args(crafted, n_random, seed, only, timeout_s, memory_mb, stride):
    args = ["--random", str(n_random), "--seed", str(seed), "--timeout", str(timeout_s),
            "--memory-mb", str(memory_mb), "--stride", str(stride)]
    if crafted:
        args.append("--crafted")
    if only:
        args += ["--only", only]
    return args


def run_isolated(*, crafted: bool = True, n_random: int = 0, seed: int = 0,
                 only: str | None = None, timeout_s: float = 5.0, memory_mb: int = 1536,
                 stride: int = 1, python: str = sys.executable) -> list[dict]:
    """Run the cases in a child process (restarted after a case that hangs in native code or
    kills it); returns one record per case, "hang" or "crash" for those the child did not
    finish."""
    import subprocess
    import tempfile
    import time

    n_cases = len(select_cases(crafted, n_random, seed, only, stride))
    records: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="compactemb-fuzz-") as d:
        log = os.path.join(d, "records.jsonl")
        start = 0
        while start < n_cases:
            open(log, "w").close()
            cmd = [python, __file__, "--child", "--start", str(start), "--jsonl", log,
                   *_spec_args(crafted, n_random, seed, only, timeout_s, memory_mb, stride)]
            err_path = os.path.join(d, "stderr.txt")
            with open(err_path, "wb") as err_file:  # a file: a chatty child never blocks
                child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file)
            seen, last_change, warm = 0, time.monotonic(), False
            while True:
                rc = child.poll()
                with open(log) as f:
                    lines = f.read().splitlines()
                if lines and not warm:
                    warm, last_change = True, time.monotonic()  # numba warm-up done
                done = [json.loads(x) for x in lines if x.startswith("{")]
                if len(done) != seen:
                    seen, last_change = len(done), time.monotonic()
                if rc is not None:
                    break
                limit = timeout_s * 2 + 2 if warm else 600
                if time.monotonic() - last_change > limit:
                    child.kill()
                    child.wait()
                    rc = "hang"
                    break
                time.sleep(0.05)
            records.extend(done)
            start += len(done)
            if start >= n_cases:
                break
            current = select_cases(crafted, n_random, seed, only, stride)[start]
            with open(err_path, "rb") as f:
                err = f.read().decode(errors="replace")[-300:] if rc != "hang" else ""
            records.append({"case": current[0], "category": current[1],
                            "result": "hang" if rc == "hang" else f"crash:{rc}",
                            "message": err})
            start += 1
    return records


def main(argv=None) -> int:
    import argparse
    import tempfile

    p = argparse.ArgumentParser()
    p.add_argument("--crafted", action="store_true", help="run the crafted corpus")
    p.add_argument("--random", type=int, default=0, help="this many random cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", help="cases whose id contains this (| separates several)")
    p.add_argument("--stride", type=int, default=1, help="every N-th crafted case")
    p.add_argument("--json", help="write the records here")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--memory-mb", type=int, default=1536)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--jsonl", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        cases = select_cases(args.crafted, args.random, args.seed, args.only,
                             args.stride)[args.start:]
        with tempfile.TemporaryDirectory(prefix="compactemb-fuzz-") as d, \
                open(args.jsonl, "a") as out:
            run_cases(cases, d, timeout_s=args.timeout, memory_mb=args.memory_mb,
                      verbose=args.verbose, sink=out)
        return 0
    records = run_isolated(crafted=args.crafted, n_random=args.random, seed=args.seed,
                           only=args.only, timeout_s=args.timeout, memory_mb=args.memory_mb,
                           stride=args.stride)
    if args.verbose:
        for rec in records:
            if rec["result"] not in ("ok", "format"):
                sys.stdout.write(f"{rec['case']} {rec['result']} "
                                 f"{rec.get('message', '')[:200]!r}\n")
    if args.json:
        Path(args.json).write_text(json.dumps(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
