"""Helpers shared by the tests of the exercise checks (tests/test_checks_*.py)."""
import pytest

from unigen import checks


def rejected(check, wrong) -> str:
    """The message with which ``check`` rejects the implementation ``wrong`` (fails if it accepts it)."""
    with pytest.raises(checks.CheckFailed) as e:
        check(wrong, quiet=True)
    return str(e.value)


def cases(*wrongs):
    """Parametrise a test over ``(wrong implementation, expected words in the message)`` pairs."""
    return pytest.mark.parametrize("wrong, expected", wrongs, ids=lambda w: getattr(w, "__name__", ""))
