"""Pure statistics on fixed data, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from virtprobe import stats


def test_percentile_matches_linear_interpolation() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert stats.percentile(xs, 0) == 1.0
    assert stats.percentile(xs, 50) == 3.0
    assert stats.percentile(xs, 100) == 5.0
    # (5-1)*0.95 = 3.8 -> 4 + 0.8*(5-4)
    assert stats.percentile(xs, 95) == pytest.approx(4.8)


def test_summary_of_known_samples() -> None:
    s = stats.summarize([0.170, 0.180, 0.175, 0.190, 0.172])
    assert s.n == 5
    assert s.min == 0.170 and s.max == 0.190
    assert s.median == pytest.approx(0.175)
    # |x - 0.175| = 0.005 0.005 0 0.015 0.003 -> median 0.005
    assert s.mad == pytest.approx(0.005)
    assert s.mean == pytest.approx(0.1774)
    # squared deviations from 0.1774 sum to 2.552e-4; / (n-1) = 6.38e-5
    assert s.stdev == pytest.approx(0.0079875, rel=1e-4)
    assert s.cv == pytest.approx(0.0079875 / 0.1774, rel=1e-4)
    assert not s.noisy
    assert s.outliers == ()


def test_one_sample_has_no_spread() -> None:
    s = stats.summarize([0.2])
    assert s.n == 1 and s.median == 0.2 and s.stdev is None and s.cv is None


def test_empty_summary_is_all_none() -> None:
    s = stats.summarize([])
    assert s.n == 0 and s.median is None and s.to_dict()["noisy"] is False


def test_outlier_flagged_by_modified_z_score() -> None:
    xs = [0.17, 0.18, 0.175, 0.172, 0.178, 0.9]
    assert stats.outlier_indexes(xs) == [5]
    s = stats.summarize(xs)
    assert s.outliers == (5,)
    assert s.noisy  # stdev is far above 10% of the mean


def test_zero_mad_flags_nothing() -> None:
    assert stats.outlier_indexes([1.0, 1.0, 1.0, 5.0]) == []


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200))
def test_summary_invariants(xs: list[float]) -> None:
    s = stats.summarize(xs)
    assert s.n == len(xs)
    assert s.min is not None and s.max is not None and s.median is not None
    assert s.min <= s.median <= s.max
    assert s.p95 is not None and s.p99 is not None
    assert s.median <= s.p99 + 1e-9 or math.isclose(s.median, s.p99)
    assert s.p95 <= s.p99 + 1e-9
    assert s.mad is not None and s.mad >= 0
