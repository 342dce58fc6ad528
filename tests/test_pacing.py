"""The pacer: evenly spaced slots, no bursts, Retry-After honoured, slower after 429s, shared per instance."""

from __future__ import annotations

import threading

import pytest

from greenapi_excel import pacing
from greenapi_excel.pacing import Pacer, pacer_for, parse_retry_after


class FakeClock:
    """Time that moves only when the pacer sleeps (or the test says so)."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def most_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_slots_are_evenly_spaced_at_97_percent_of_the_rate():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    slots = [pacer.reserve() for _ in range(50)]
    gaps = {round(b - a, 9) for a, b in zip(slots, slots[1:])}
    assert gaps == {round(1 / 9.7, 9)}
    assert slots[0] == clock.now                      # the first call does not wait
    assert most_in_any_window(slots) == 10            # a sliding-window server never sees 11


def test_no_burst_after_an_idle_spell():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    pacer.reserve()
    clock.advance(60)                                  # idle for a minute: no saved-up tokens
    slots = [pacer.reserve() for _ in range(5)]
    assert slots[0] == clock.now
    assert all(b - a == pytest.approx(1 / 9.7) for a, b in zip(slots, slots[1:]))


def test_wait_sleeps_until_the_slot():
    clock = FakeClock()
    pacer = Pacer(1, clock=clock, sleep=clock.sleep)
    assert pacer.wait() == 0.0
    assert pacer.wait() == pytest.approx(1 / 0.97)
    assert clock.slept == [pytest.approx(1 / 0.97)]


def test_a_thread_that_wakes_late_does_not_let_a_sliding_window_see_more_than_the_limit():
    clock = FakeClock()
    plain_sleep = clock.sleep

    def oversleeping(seconds: float) -> None:
        plain_sleep(seconds + (0.05 if len(clock.slept) == 5 else 0.0))   # the 6th wake-up is 50 ms late

    pacer = Pacer(10, clock=clock, sleep=oversleeping)
    starts = []
    for _ in range(40):
        pacer.wait()
        starts.append(clock.now)
    assert most_in_any_window(starts, 1.0 + pacing.WINDOW_GUARD - 1e-6) <= 10
    # Without the window check the 11 calls from the late one on would fit in 0.98 s; with it the
    # late start costs one short wait, not the pace: 40 calls still take about 40 / 9.7 s.
    assert starts[-1] - starts[0] == pytest.approx(39 / 9.7, abs=0.1)


def test_retry_after_pushes_the_next_slot_and_429_slows_the_pace():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    pacer.reserve()
    pacer.throttled(retry_after=2.0)
    assert pacer.reserve() == pytest.approx(clock.now + 2.0)
    assert pacer.rate == pytest.approx(10 * pacing.SLOWDOWN)
    a, b = pacer.reserve(), pacer.reserve()
    assert b - a == pytest.approx(1 / (10 * pacing.SLOWDOWN * 0.97))


def test_a_burst_of_429s_slows_down_once_per_second():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    for _ in range(8):
        pacer.throttled()
    assert pacer.rate == pytest.approx(7.0)
    clock.advance(1.0)
    pacer.throttled()
    assert pacer.rate == pytest.approx(4.9)


def test_the_pace_never_drops_below_the_floor_and_recovers_on_successes():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        pacer.throttled()
        clock.advance(1.0)
    assert pacer.rate == pytest.approx(10 * pacing.FLOOR)
    for _ in range(100):
        pacer.succeeded()
    assert pacer.rate == pytest.approx(10.0)


def test_retry_after_from_a_hostile_server_is_capped():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    pacer.throttled(retry_after=10 ** 9)
    assert pacer.reserve() <= clock.now + pacing.MAX_RETRY_AFTER


@pytest.mark.parametrize("header, seconds", [
    ("1", 1.0), ("0.5", 0.5), (" 3 ", 3.0), (None, None), ("", None), ("soon", None), ("-4", 0.0),
    ("nan", None), ("99999999", pacing.MAX_RETRY_AFTER), ("x" * 1000, None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),         # a date in the past: go now
])
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header) == seconds


def test_threads_share_one_schedule():
    clock = FakeClock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep)
    slots: list[float] = []
    lock = threading.Lock()

    def take():
        for _ in range(25):
            slot = pacer.reserve()
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    assert len(set(slots)) == 200
    assert all(b - a == pytest.approx(1 / 9.7) for a, b in zip(slots, slots[1:]))


def test_one_pacer_per_host_instance_and_method_in_the_process():
    pacing.forget_pacers()
    archive = pacer_for("https://api.green-api.com", "1101", "archiveChat")
    assert pacer_for("https://API.green-api.com/", "1101", "archiveChat") is archive
    assert archive.full_rate == 10.0
    assert pacer_for("https://api.green-api.com", "1101", "unarchiveChat") is not archive
    assert pacer_for("https://api.green-api.com", "1102", "archiveChat") is not archive
    assert pacer_for("https://api.green-api.com", "1101", "getChats").full_rate == 1.0
    assert pacer_for("https://api.green-api.com", "1101", "archiveChat", rate=5).full_rate == 5.0


def test_a_rate_that_is_not_positive_is_refused():
    with pytest.raises(ValueError):
        Pacer(0)
