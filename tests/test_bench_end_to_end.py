"""bench/end_to_end.py's comparison with the seed holds only where both traced the same
program as far (a record that stopped early is said so, not counted faster) and both
are served as they are deployed."""

import json

import pytest

from bench import end_to_end


def _results(**steps):
    return {"programs": {name: {"steps": count} for name, count in steps.items()}}


def test_a_record_of_fewer_steps_is_not_the_same_trace():
    ours = _results(matrix=1000, fib=1000, tiny=4)
    seed = _results(matrix=9, fib=1000, tiny=4)
    assert end_to_end.fewer_steps(ours, seed) == {"matrix": (9, 1000)}
    assert end_to_end.fewer_steps(ours, ours) == {}


def test_steps_are_counted_in_either_service_s_record():
    assert end_to_end._steps_in(json.dumps({"steps": [{}, {}, {}], "outcome": {}}).encode()) == 3
    assert end_to_end._steps_in(json.dumps({"steps": [{"snapshot": {}}]}).encode()) == 1
    assert end_to_end._steps_in(json.dumps({"error": "no steps"}).encode()) == 0


def test_the_services_are_served_compiled_as_deployed_the_seeds_in_a_copy(tmp_path):
    """Cloud Functions' buildpack compiles a function's source at deploy: the bench serves
    each service so, whatever PYTHONDONTWRITEBYTECODE says, and leaves ../shared untouched."""
    seed = tmp_path / "shared" / "python"
    (seed / "tracer").mkdir(parents=True)
    (seed / "main.py").write_text("import tracer.inspector\n")
    (seed / "tracer" / "inspector.py").write_text("x = 1\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    copy = end_to_end.as_deployed(seed, scratch)
    assert copy == scratch / "python"
    assert [path.name.split(".")[0] for path in sorted(copy.rglob("*.pyc"))] == ["main", "inspector"]
    assert list(seed.rglob("*.pyc")) == []
    assert end_to_end.as_deployed(seed) == seed and len(list(seed.rglob("*.pyc"))) == 2


def test_requests_after_quiet_spells_come_each_that_long_after_the_last_answer(monkeypatch):
    """Each service alone at each gap (the other one quiet), after a warm request and a rest,
    every timed request after a sleep of the gap, the services' order alternating round by
    round; a median per gap and service."""
    events = []

    class Clock:
        now = 0.0

        def sleep(self, seconds):
            events.append(("sleep", seconds))
            self.now += seconds

        def perf_counter(self):
            return self.now

    clock = Clock()

    def post(port, body, accept_encoding=None):
        assert accept_encoding is None  # as identity
        events.append(("post", port))
        clock.now += port / 1000  # each port answers in its own time: port 7 in 7 ms
        return 200, b"{}"

    monkeypatch.setattr(end_to_end, "time", clock)
    monkeypatch.setattr(end_to_end, "post", post)
    medians = end_to_end.after_gaps([7, 9], {"source": ""})

    assert medians == {gap: [pytest.approx(0.007), pytest.approx(0.009)] for gap in end_to_end.GAPS_SECONDS}
    # each run: a warm request, the rest, then GAP_REQUESTS each after a sleep of the gap
    per_run = 2 + 2 * end_to_end.GAP_REQUESTS
    assert len(events) == per_run * 2 * len(end_to_end.GAPS_SECONDS) * end_to_end.GAP_ROUNDS
    runs = [events[start:start + per_run] for start in range(0, len(events), per_run)]
    gaps = [gap for gap in end_to_end.GAPS_SECONDS for _ in range(2)] * end_to_end.GAP_ROUNDS
    first_ports = []
    for run, gap in zip(runs, gaps):
        port = run[0][1]
        assert run[:2] == [("post", port), ("sleep", end_to_end.REST_SECONDS)]
        assert run[2:] == [("sleep", gap), ("post", port)] * end_to_end.GAP_REQUESTS  # this service alone
        first_ports.append(port)
    assert first_ports[::2] == [9 if round_number % 2 else 7 for round_number in range(end_to_end.GAP_ROUNDS)
                                for _ in end_to_end.GAPS_SECONDS]  # order alternating round by round
