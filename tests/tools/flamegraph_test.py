#!/usr/bin/env python3
"""tools/perf/flamegraph.py: folding a recorded `perf script` sample (6 samples of the broker
at 1,000/s, recorded with --call-graph dwarf, kernel frames included), the top list and the
SVG. Quick (well under a second): registered with ctest by tests/CMakeLists.txt."""
import os
import sys
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "perf"))
import flamegraph  # noqa: E402

SAMPLE = os.path.join(HERE, "data", "perf_script_sample.txt")


def folded():
    with open(SAMPLE) as f:
        return flamegraph.fold(f)


class FoldTest(unittest.TestCase):
    def test_every_sample_counts_once_rooted_at_its_thread(self):
        stacks = folded()
        self.assertEqual(sum(stacks.values()), 6)
        roots = sorted(path.split(";")[0] for path, n in stacks.items() for _ in range(n))
        self.assertEqual(roots, ["ZMQbg/IO/0"] + ["aplus-broker"] * 5)

    def test_frames_root_first_without_offsets_or_arguments(self):
        stacks = folded()
        memtable = [p for p in stacks if "rocksdb::MemTable::Add" in p]
        self.assertEqual(len(memtable), 1)
        frames = memtable[0].split(";")
        # perf prints the leaf first; folded stacks go root first.
        self.assertEqual(frames[:4], ["aplus-broker", "_start", "__libc_start_main@@GLIBC_2.34",
                                      "__libc_start_call_main"])
        self.assertEqual(frames[-1], "__memcmp_evex_movbe")
        self.assertIn("aplus::Broker::CommitAndFlush", frames)
        self.assertLess(frames.index("aplus::Broker::Turn"),
                        frames.index("aplus::Broker::CommitAndFlush"))
        # "Compare(rocksdb::Slice const&, ...) const+0x30": the parameter list and offset go.
        self.assertIn(
            "non-virtual thunk to rocksdb::(anonymous namespace)::BytewiseComparatorImpl::Compare",
            frames)
        for frame in frames:
            self.assertNotRegex(frame, r"\+0x[0-9a-f]+$")

    def test_kernel_frames_are_kept(self):
        stacks = folded()
        synced = [p for p in stacks if "__x64_sys_fdatasync" in p]
        self.assertEqual(len(synced), 1)
        frames = synced[0].split(";")
        self.assertEqual(frames[-1], "blk_mq_rq_ctx_init.isra.0")
        self.assertIn("rocksdb::PosixWritableFile::Sync", frames)

    def test_unknown_symbols_are_named_after_their_library(self):
        stacks = folded()
        names = {f for p in stacks for f in p.split(";")}
        self.assertFalse(any(n.startswith("[[") for n in names), names)
        self.assertTrue(any(n.startswith("[") and n.endswith("]") for n in names))

    def test_period_weighs_samples(self):
        with open(SAMPLE) as f:
            stacks = flamegraph.fold(f, use_period=True)
        self.assertEqual(sum(stacks.values()), 6 * 1001001)

    def test_headers_without_frames_and_noise(self):
        lines = ["# comment", "perf: some warning line that is no header", "",
                 "sleep 42/42 [001] 1.000000: 1000 cpu-clock:", "",
                 "my prog 7 1.5: 250 cycles:", "\t 1 leaf+0x1 (/bin/x)", "\t 2 root (/bin/x)", ""]
        stacks = flamegraph.fold(lines)
        self.assertEqual(stacks, {"sleep": 1, "my prog;root;leaf": 1})


class OutputTest(unittest.TestCase):
    def test_top_lists_self_and_total(self):
        text = flamegraph.top(folded(), 10)
        self.assertTrue(text.startswith("6 samples"))
        self.assertIn("self%", text)
        self.assertIn("total%", text)
        # Five of the six samples are under Broker::Turn.
        self.assertRegex(text, r"83\.3\s+5\s+aplus::Broker::Turn")

    def test_svg_is_well_formed_and_widths_add_up(self):
        document = flamegraph.svg(folded(), title="sample <test>", min_width=0)
        root = ET.fromstring(document)
        ns = "{http://www.w3.org/2000/svg}"
        frames = root.findall(".//" + ns + "g")
        titles = [g.find(ns + "title").text for g in frames]
        self.assertIn("aplus-broker (5 samples, 83.33%)", titles)
        self.assertIn("ZMQbg/IO/0 (1 samples, 16.67%)", titles)
        bottom = [g.find(ns + "rect") for g in frames
                  if g.find(ns + "title").text.startswith(("aplus-broker ", "ZMQbg/IO/0 "))]
        width = sum(float(r.get("width")) for r in bottom)
        self.assertAlmostEqual(width, 1200 - 20, delta=0.5)
        self.assertIn("sample &lt;test&gt;", document)

    def test_main_writes_svg_and_refuses_empty_input(self):
        import contextlib
        import io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(flamegraph.main([SAMPLE, "--title", "t"]), 0)
        self.assertTrue(out.getvalue().startswith("<?xml"))
        empty = os.path.join(HERE, "data", "perf_script_sample.txt") + ".missing-frames"
        with open(empty, "w") as f:
            f.write("# nothing\n")
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(flamegraph.main([empty]), 1)
        finally:
            os.remove(empty)


if __name__ == "__main__":
    unittest.main()
