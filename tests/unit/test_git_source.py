"""A git submission's URL, ref and design folder, checked as hostile input before anything is fetched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.git_source import GitSource, GitSourceError, address_problem, parse_git_source


def test_a_public_https_repository_with_branch_and_folder() -> None:
    assert parse_git_source("https://GitHub.com/owner/repo.git", "main", "designs/spm/") == GitSource(
        "https://github.com/owner/repo.git", "github.com", 443, "main", "designs/spm"
    )


def test_a_full_commit_sha_is_a_commit() -> None:
    source = parse_git_source("https://example.org/r.git", "a" * 40)
    assert source.is_commit and not parse_git_source("https://example.org/r.git", "v1.0").is_commit


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///etc/passwd", "not file://"),
        ("ssh://git@github.com/o/r.git", "not ssh://"),
        ("git://github.com/o/r.git", "not git://"),
        ("ext::sh -c touch% /tmp/pwned", "transport helper"),
        ("fd::17", "transport helper"),
        ("git@github.com:o/r.git", "user@host:path"),
        ("/srv/git/r.git", "user@host:path"),
        ("https://user:token@github.com/o/r.git", "credentials"),
        ("https://github.com/o/r.git?x=1", "query"),
        ("https://github.com/", "names no repository"),
        ("https://github.com/o/../../r.git", "'..'"),
        ("http://github.com/o/r.git", "plain http:// only to hosts this deployment allows"),
        ("https://git hub.com/o/r.git", "without spaces"),
        ("https://bad_host!/r.git", "is not a host name"),
        ("", "https:// URL"),
        (42, "https:// URL"),
    ],
)
def test_every_other_transport_and_form_is_refused_with_a_reason(url: object, says: str) -> None:
    with pytest.raises(GitSourceError) as refused:
        parse_git_source(url)
    assert says in str(refused.value)


def test_plain_http_only_to_allowed_hosts() -> None:
    source = parse_git_source("http://127.0.0.1:21500/examples.git", allowed_http_hosts=("127.0.0.1",))
    assert (source.host, source.port, source.url) == ("127.0.0.1", 21500, "http://127.0.0.1:21500/examples.git")


@pytest.mark.parametrize(
    "ref", ["-upload-pack=evil", "a..b", "x@{1}", "br anch", "refs/heads/", "x.lock", "a//b", "~1"]
)
def test_refs_that_git_would_read_differently_are_refused(ref: str) -> None:
    with pytest.raises(GitSourceError, match=r"git\.ref"):
        parse_git_source("https://example.org/r.git", ref)


@pytest.mark.parametrize("path", ["../outside", "a/../../b", "-rf", "a b", "\u202espm"])
def test_design_folders_outside_the_repository_or_odd_are_refused(path: str) -> None:
    with pytest.raises(GitSourceError, match=r"git\.path"):
        parse_git_source("https://example.org/r.git", "main", path)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(GitSourceError) as refused:
        parse_git_source("ssh://x/y", "-x", "../z")
    assert len(refused.value.problems) == 3


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("evil.example", "127.0.0.1"),
        ("evil.example", "169.254.169.254"),
        ("evil.example", "10.1.2.3"),
        ("evil.example", "192.168.0.1"),
        ("evil.example", "::1"),
        ("evil.example", "::ffff:169.254.169.254"),
        ("evil.example", "fd00:ec2::254"),
        ("evil.example", "0.0.0.0"),
        ("metadata.google.internal", "8.8.8.8"),
    ],
)
def test_hosts_inside_private_networks_are_refused(host: str, address: str) -> None:
    assert address_problem(host, address) is not None


def test_a_public_address_is_fine() -> None:
    assert address_problem("github.com", "140.82.121.4") is None


@given(st.text(max_size=80))
def test_any_text_is_either_a_checked_source_or_a_refusal(text: str) -> None:
    try:
        source = parse_git_source(text, "main", "")
    except GitSourceError as refused:
        assert refused.problems
    else:
        assert source.url.startswith("https://") and "@" not in source.url.split("/")[2]
