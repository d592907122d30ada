// The object that builds tests/precompiled.h's precompiled header (tests/CMakeLists.txt): a
// target of its own, compiled with exactly the suites' settings, which every suite reuses.
