#!/usr/bin/env python3
"""Folds `perf script` output into stacks; writes a flame graph (SVG) or a top list (text).

Debian has no flame-graph package, so this is ours: no dependency beyond python3.

    perf script -i perf.data | tools/perf/flamegraph.py --title "broker at 1,000/s" > out.svg
    perf script -i perf.data | tools/perf/flamegraph.py --top 25          # text: self and total
    perf script -i perf.data | tools/perf/flamegraph.py --folded          # "a;b;c 42" lines

Input: the default `perf script` format with call graphs (record -g or --call-graph dwarf): a
header line per sample ("comm pid/tid [cpu] time: period event:"), then one frame per line
("\\t addr symbol+0xoff (dso)"), leaf first, then a blank line. A sample without frames counts
as its command alone. Each sample weighs 1 (perf record -F samples at a fixed rate, so counts
are proportional to CPU time); --period weighs samples by their period field instead.

The SVG is self-contained (no script): each frame is a rectangle whose width is its share of
the samples and whose tooltip (<title>) gives the name, the count and the percentage; roots at
the bottom, as Brendan Gregg's original. Frames narrower than --min-width pixels are dropped
(their samples still count in their parents' widths).
"""
import argparse
import html
import re
import sys
import zlib
from collections import defaultdict

# "comm  pid/tid [cpu] 12345.678901:     250000 cpu-clock:ppp:" -- comm may hold spaces; the
# pid/tid, the cpu and the time are optional depending on perf script's -F.
_HEADER = re.compile(
    r"^(?P<comm>\S.*?)\s+(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+(?:\[\d+\]\s+)?"
    r"(?:[\d.]+:\s+)?(?:(?P<period>\d+)\s+)?(?P<event>[\w\-:./]+):?\s*$")
# "\t    7f1c2d3e4f50 rocksdb::MemTable::Add(...)+0x1c0 (/usr/lib/.../librocksdb.so.7.8)"
_FRAME = re.compile(r"^\s+(?P<addr>[0-9a-fA-F]+)\s+(?P<sym>.*?)(?:\s+\((?P<dso>[^()]*)\))?\s*$")
_OFFSET = re.compile(r"\+0x[0-9a-fA-F]+$")
_QUALIFIERS = re.compile(r"\)(?:\s*(?:const|volatile|noexcept|&&|&))+$")


def _frame_name(sym, dso, keep_args):
    """The frame's function name: symbol without offset (and without arguments unless asked);
    an unknown symbol is named after its library, "[libfoo.so]"."""
    sym = _OFFSET.sub("", sym.strip())
    if not sym or sym == "[unknown]":
        base = (dso or "unknown").strip("[]").rsplit("/", 1)[-1] or "unknown"
        return "[" + base + "]"
    if not keep_args:
        sym = _strip_args(sym)
    return sym


def _strip_args(sym):
    """Drops a C++ parameter list "(...)" at the end, with its qualifiers (" const", "&&"...);
    keeps "operator()" readable."""
    sym = _QUALIFIERS.sub(")", sym)
    if not sym.endswith(")") or sym.endswith("operator()"):
        return sym
    depth = 0
    for i in range(len(sym) - 1, -1, -1):
        c = sym[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                head = sym[:i]
                return head if head and not head.endswith("operator") else sym
    return sym


def fold(lines, keep_args=False, use_period=False, comm_root=True):
    """Returns {"root;...;leaf": weight} from `perf script` lines."""
    stacks = defaultdict(int)
    comm = None
    weight = 1
    frames = []

    def flush():
        if comm is None:
            return
        path = list(reversed(frames))  # perf prints the leaf first
        if comm_root:
            path.insert(0, comm)
        if not path:
            return
        stacks[";".join(path)] += weight

    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames, weight = None, [], 1
            continue
        if line.startswith("#"):
            continue
        if comm is None and not line[0].isspace():
            header = _HEADER.match(line)
            if header is None:
                continue  # not a sample header (perf's own warnings): skipped
            comm = header.group("comm").strip().replace(";", ":")
            period = header.group("period")
            weight = int(period) if use_period and period else 1
            continue
        if comm is not None:
            frame = _FRAME.match(line)
            if frame:
                name = _frame_name(frame.group("sym"), frame.group("dso"), keep_args)
                frames.append(name.replace(";", ":"))
    flush()
    return dict(stacks)


def top(stacks, n):
    """Text: the `n` functions with most samples on top of the stack (self), and the `n` with
    most samples anywhere in the stack (total, each function once per sample)."""
    total = sum(stacks.values()) or 1
    self_count = defaultdict(int)
    total_count = defaultdict(int)
    for path, count in stacks.items():
        frames = path.split(";")
        self_count[frames[-1]] += count
        for name in set(frames):
            total_count[name] += count
    out = ["%d samples" % total, "", "self%    self  function"]
    for name, count in sorted(self_count.items(), key=lambda kv: (-kv[1], kv[0]))[:n]:
        out.append("%5.1f %7d  %s" % (100.0 * count / total, count, name))
    out += ["", "total%  total  function"]
    for name, count in sorted(total_count.items(), key=lambda kv: (-kv[1], kv[0]))[:n]:
        out.append("%5.1f %7d  %s" % (100.0 * count / total, count, name))
    return "\n".join(out) + "\n"


def _tree(stacks):
    """A nested dict {name: [count, children]} from folded stacks."""
    root = [0, {}]
    for path, count in stacks.items():
        node = root
        node[0] += count
        for name in path.split(";"):
            child = node[1].get(name)
            if child is None:
                child = node[1][name] = [0, {}]
            child[0] += count
            node = child
    return root


def _color(name):
    """A stable warm colour per name (same function, same colour, in every graph); kernel
    frames orange, unknown frames grey."""
    h = zlib.crc32(name.encode())
    if name.startswith("["):
        return "rgb(180,180,180)"
    if "_[k]" in name or name.startswith(("__x64_sys", "entry_SYSCALL", "do_syscall")):
        return "rgb(230,140,50)"
    return "rgb(%d,%d,%d)" % (205 + h % 50, 80 + (h >> 8) % 130, 40 + (h >> 16) % 50)


def svg(stacks, title="", width=1200, frame_height=16, min_width=0.3):
    """The flame graph of `stacks` as one SVG document (str)."""
    tree = _tree(stacks)
    total = tree[0]
    rects = []
    max_depth = [0]

    def walk(node_children, x, depth, scale):
        for name in sorted(node_children):
            count, children = node_children[name]
            w = count * scale
            if w >= min_width:
                rects.append((x, depth, w, name, count))
                max_depth[0] = max(max_depth[0], depth)
                walk(children, x, depth + 1, scale)
            x += w

    pad_top, pad_bottom, side = 40, 10, 10
    scale = (width - 2 * side) / total if total else 0
    walk(tree[1], side, 0, scale)
    height = pad_top + (max_depth[0] + 1) * frame_height + pad_bottom
    out = [
        '<?xml version="1.0" standalone="no"?>',
        '<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" font-family="Verdana, sans-serif" font-size="11">'
        % (width, height, width, height),
        '<rect x="0" y="0" width="100%" height="100%" fill="rgb(248,248,240)"/>',
        '<text x="%d" y="20" font-size="15" text-anchor="middle">%s</text>'
        % (width // 2, html.escape(title or "flame graph")),
        '<text x="%d" y="34" font-size="11" fill="rgb(90,90,90)">%d samples; width = share of '
        'samples, roots at the bottom; hover a frame for its figures</text>' % (side, total),
    ]
    for x, depth, w, name, count in rects:
        y = height - pad_bottom - (depth + 1) * frame_height
        pct = 100.0 * count / total
        label = ""
        chars = int((w - 6) / 7)
        if chars >= 3:
            label = name if len(name) <= chars else name[: chars - 2] + ".."
        out.append(
            '<g><title>%s (%d samples, %.2f%%)</title><rect x="%.1f" y="%d" width="%.1f" '
            'height="%d" fill="%s" rx="2"/>%s</g>'
            % (html.escape(name), count, pct, x, y, w, frame_height - 1, _color(name),
               '<text x="%.1f" y="%d">%s</text>' % (x + 3, y + frame_height - 4, html.escape(label))
               if label else ""))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", nargs="?", help="perf script output (default: stdin)")
    parser.add_argument("--title", default="", help="the SVG's title")
    parser.add_argument("--top", type=int, metavar="N", help="text: the top N functions instead")
    parser.add_argument("--folded", action="store_true", help="text: folded stacks instead")
    parser.add_argument("--args", action="store_true", help="keep C++ parameter lists")
    parser.add_argument("--period", action="store_true", help="weigh samples by their period")
    parser.add_argument("--no-comm", action="store_true", help="no command name as the root")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--min-width", type=float, default=0.3, help="pixels (default 0.3)")
    args = parser.parse_args(argv)
    source = open(args.input, errors="replace") if args.input else sys.stdin
    with source:
        stacks = fold(source, keep_args=args.args, use_period=args.period,
                      comm_root=not args.no_comm)
    if not stacks:
        print("no samples in the input (was it recorded with -g or --call-graph?)",
              file=sys.stderr)
        return 1
    if args.folded:
        sys.stdout.write("".join("%s %d\n" % kv for kv in sorted(stacks.items())))
    elif args.top:
        sys.stdout.write(top(stacks, args.top))
    else:
        sys.stdout.write(svg(stacks, args.title, args.width, min_width=args.min_width))
    return 0


if __name__ == "__main__":
    sys.exit(main())
