"""Fixtures of the integration suite: the server under test, SIPp, baresip, and their cleanup.

Each fixture that starts a process stops it in its finaliser, so teardown runs
when a test fails; when it does, the server's log is printed into the report.
Missing peers (sipp, baresip) skip the tests that need them, unless
``REQUIRE_SIP_PEERS=1`` (set by ``scripts/test``) turns that into a failure.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from harness import SCENARIO_DIR, BaresipFactory, ServerFactory, require_tool
from peers import Baresip, Sipp, write_silence_wav


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item so fixtures know whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(node: pytest.Item | pytest.Collector) -> bool:
    report = getattr(node, "report_call", None)
    setup = getattr(node, "report_setup", None)
    return bool((report is not None and report.failed) or (setup is not None and setup.failed))


@pytest.fixture
def ringfort_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    """Servers for one test; each has its own data directory and ports."""
    factory = ServerFactory(tmp_path)
    yield factory
    factory.close(show_logs=_failed(request.node))


@pytest.fixture(scope="module")
def module_ringfort_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerFactory]:
    """Servers shared by the tests of one module (stopped after the module)."""
    factory = ServerFactory(tmp_path_factory.mktemp("module-server"))
    yield factory
    factory.close(show_logs=request.session.testsfailed > 0)


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Sipp]:
    """SIPp runner writing its logs and statistics into the test's directory."""
    require_tool("sipp")
    runner = Sipp(workdir=tmp_path / "sipp", scenario_dir=SCENARIO_DIR)
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def silence_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A silent 8 kHz WAV: the audio source every baresip needs."""
    return write_silence_wav(tmp_path_factory.mktemp("media") / "silence.wav")


@pytest.fixture
def baresip_factory(tmp_path: Path, silence_wav: Path) -> Iterator[BaresipFactory]:
    """Start baresip phones: ``make(name, account=..., answermode=...)``; all stopped after.

    A phone plays ``source_wav`` into its calls (silence by default) and, with
    ``sip_trace``, logs every SIP message.
    """
    require_tool("baresip")
    started: list[Baresip] = []

    def make(
        name: str,
        *,
        account: str | None = None,
        answermode: str = "manual",
        source_wav: Path | None = None,
        sip_trace: bool = False,
    ) -> Baresip:
        phone = Baresip(
            name=name,
            workdir=tmp_path,
            source_wav=source_wav or silence_wav,
            account=account,
            answermode=answermode,
            sip_trace=sip_trace,
        )
        started.append(phone)
        return phone.start()

    yield make
    for phone in started:
        phone.stop()
