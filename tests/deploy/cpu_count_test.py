#!/usr/bin/env python3
"""deploy/cpu-count.sh: the CPUs deploy/build.sh and deploy/run-tests.sh use, nproc lowered to
the cgroup's CPU quota (v2 cpu.max, v1 cfs quota and period), from the process's cgroup up to
the root. Runs the script on fake cgroup trees (APLUS_CGROUP_ROOT, APLUS_PROC_CGROUP). Quick."""
import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "deploy", "cpu-count.sh")
NPROC = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)


class CpuCountTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="aplus-cpu-count-")
        self.root = os.path.join(self.dir.name, "cgroup")
        self.membership = os.path.join(self.dir.name, "self-cgroup")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, relative, text):
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def count(self, membership):
        with open(self.membership, "w") as f:
            f.write(membership)
        env = dict(os.environ, APLUS_CGROUP_ROOT=self.root, APLUS_PROC_CGROUP=self.membership)
        out = subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        return int(out.stdout)

    def test_no_cgroup_files_is_nproc(self):
        self.assertEqual(self.count("0::/\n"), NPROC)

    def test_v2_quota_rounds_up_and_never_raises(self):
        self.write("ci/cpu.max", "150000 100000\n")
        self.assertEqual(self.count("0::/ci\n"), min(NPROC, 2))
        self.write("ci/cpu.max", "100000 100000\n")
        self.assertEqual(self.count("0::/ci\n"), 1)
        self.write("ci/cpu.max", "%d 100000\n" % ((NPROC + 8) * 100000))
        self.assertEqual(self.count("0::/ci\n"), NPROC)

    def test_v2_no_quota(self):
        self.write("ci/cpu.max", "max 100000\n")
        self.assertEqual(self.count("0::/ci\n"), NPROC)

    def test_v2_the_lowest_quota_up_the_tree_wins(self):
        self.write("cpu.max", "max 100000\n")
        self.write("outer/cpu.max", "100000 100000\n")
        self.write("outer/inner/cpu.max", "max 100000\n")
        self.assertEqual(self.count("0::/outer/inner\n"), 1)

    def test_v1_quota_on_the_cpu_hierarchy(self):
        self.write("cpu,cpuacct/job/cpu.cfs_quota_us", "100000\n")
        self.write("cpu,cpuacct/job/cpu.cfs_period_us", "100000\n")
        self.assertEqual(self.count("4:memory:/job\n2:cpu,cpuacct:/job\n"), 1)

    def test_v1_unlimited(self):
        self.write("cpu/cpu.cfs_quota_us", "-1\n")
        self.write("cpu/cpu.cfs_period_us", "100000\n")
        self.assertEqual(self.count("1:cpu:/\n"), NPROC)

    def test_garbage_is_ignored(self):
        self.write("ci/cpu.max", "lots of cpus\n")
        self.assertEqual(self.count("0::/ci\nnot a line\n"), NPROC)


if __name__ == "__main__":
    unittest.main()
