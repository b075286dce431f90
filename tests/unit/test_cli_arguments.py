"""The olc command line's argument parsing (the commands themselves are tested against the stack in tests/e2e)."""

from __future__ import annotations

import pytest

from olc_cli import history
from olc_cli.main import _parser


@pytest.mark.parametrize(
    "argv",
    [
        ["--user", "ada@example.com", "list"],
        ["list", "--user", "ada@example.com"],
        ["list", "--state", "RUNNING", "--user", "ada@example.com", "--json"],
        ["quota", "show", "--user", "ada@example.com"],
        ["stack", "open", "--user", "ada@example.com"],
    ],
)
def test_global_options_work_before_or_after_the_command(argv: list[str]) -> None:
    assert _parser().parse_args(argv).user == "ada@example.com"


def test_a_user_after_the_command_wins_over_one_before() -> None:
    assert _parser().parse_args(["--user", "a@example.com", "status", "j1", "--user", "b@example.com"]).user == (
        "b@example.com"
    )


def test_no_user_means_the_environment_decides() -> None:
    assert _parser().parse_args(["list"]).user is None


def test_history_takes_a_design_a_limit_and_json() -> None:
    args = _parser().parse_args(["history", "spm", "--limit", "5", "--json", "--user", "ada@example.com"])
    assert (args.design, args.limit, args.json, args.user) == ("spm", 5, True, "ada@example.com")
    assert args.handler is history.history
    defaults = _parser().parse_args(["history", "spm"])
    assert (defaults.limit, defaults.json) == (20, False)
