"""pytest plugin for wac's end-to-end tests (loaded by conftest.py).

- refuses to run without root (the tests create network namespaces);
- sweeps namespaces left by an earlier run that was killed;
- turns SIGTERM/SIGHUP into KeyboardInterrupt so teardown still runs;
- `topo` fixture: a fresh wacnet.Topology per test, destroyed afterwards
  (a teardown error if anything is left behind);
- on a failed test, appends each wacd's log tail and every node's
  `nft list table inet wac` to the failure report.
"""

import os

import pytest

import wacnet


def pytest_configure(config):
    if os.geteuid() != 0:
        raise pytest.UsageError("wac integration tests must run as root: they create network "
                                "namespaces (run them through ctest or sudo)")
    wacnet.install_signal_cleanup()


def pytest_sessionstart(session):
    for name in wacnet.sweep_leftovers():
        print(f"wacnet: swept leftover {name} of a killed earlier run")


@pytest.fixture
def topo(request):
    topology = wacnet.Topology()
    request.node.wac_topologies = getattr(request.node, "wac_topologies", []) + [topology]
    yield topology
    problems = topology.destroy()
    left = [n for n in wacnet.list_run_netns() if n.startswith(topology.prefix + "-")]
    assert not problems and not left, f"teardown incomplete: {problems} {left}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for topology in getattr(item, "wac_topologies", []):
            for title, text in topology.diagnostics():
                report.sections.append((title, text))
