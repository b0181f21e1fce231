"""Training's settings are read strictly, like every other."""

import pytest

from tests.test_settings import _manage


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("STEWARD_ACK_GRACE_DAYS", "a week", "STEWARD_ACK_GRACE_DAYS must be a whole number"),
        ("STEWARD_ACK_GRACE_DAYS", "-1", "STEWARD_ACK_GRACE_DAYS must be at least 0"),
        ("STEWARD_QUIZ_PASS_PERCENT", "101", "STEWARD_QUIZ_PASS_PERCENT must be at most 100"),
    ],
)
def test_it_refuses_a_malformed_training_setting(tmp_path, name, value, complaint):
    result = _manage("check", STEWARD_DATA_DIR=str(tmp_path), **{name: value})
    assert result.returncode != 0
    assert complaint in result.stderr
