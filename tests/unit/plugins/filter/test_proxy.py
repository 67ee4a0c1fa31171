# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.multiarch.buildhost.plugins.filter.proxy import (
    FilterModule, proxy_cli_settings, proxy_driver_opts, proxy_environment, proxy_environment_file, proxy_has_credentials,
    proxy_runner_environment)

SECRET = "pr0xy-Pa55"
WITH_PASSWORD = {"http_proxy": f"http://ci:{SECRET}@10.0.0.9:3128", "https_proxy": f"http://ci:{SECRET}@10.0.0.9:3128",
                 "no_proxy": ["localhost", "127.0.0.1", ".corp.example", "10.0.0.0/8", "registry.corp:5000"]}
ANONYMOUS = {"http_proxy": "http://proxy.corp:3128", "no_proxy": "localhost, 127.0.0.1"}


def test_no_proxy_reaches_nothing():
    for empty in ({}, None, ""):
        assert proxy_environment(empty) == {}
        assert proxy_environment_file(empty) == ""
        assert proxy_cli_settings(empty) == {}
        assert proxy_driver_opts(empty) == {}
        assert proxy_runner_environment(empty) == []
        assert proxy_has_credentials(empty) is False


def test_one_setting_in_each_places_words():
    # Go reads HTTP_PROXY, curl and apt http_proxy: both spellings, the list joined as every reader takes it.
    assert proxy_environment(ANONYMOUS) == {"HTTP_PROXY": "http://proxy.corp:3128", "http_proxy": "http://proxy.corp:3128",
                                            "NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1"}
    assert proxy_environment_file(ANONYMOUS) == ("HTTP_PROXY=http://proxy.corp:3128\nhttp_proxy=http://proxy.corp:3128\n"
                                                 "NO_PROXY=localhost,127.0.0.1\nno_proxy=localhost,127.0.0.1\n")
    assert proxy_cli_settings(ANONYMOUS) == {"proxies": {"default": {"httpProxy": "http://proxy.corp:3128",
                                                                     "noProxy": "localhost,127.0.0.1"}}}
    assert proxy_driver_opts(ANONYMOUS) == {"env.HTTP_PROXY": "http://proxy.corp:3128", "env.http_proxy": "http://proxy.corp:3128",
                                            "env.NO_PROXY": "localhost,127.0.0.1", "env.no_proxy": "localhost,127.0.0.1"}
    assert proxy_runner_environment(ANONYMOUS) == ["HTTP_PROXY=http://proxy.corp:3128", "http_proxy=http://proxy.corp:3128",
                                                   "NO_PROXY=localhost,127.0.0.1", "no_proxy=localhost,127.0.0.1"]


def test_a_password_goes_to_files_never_to_a_command_line():
    assert proxy_has_credentials(WITH_PASSWORD) is True
    assert proxy_has_credentials(ANONYMOUS) is False
    assert f"HTTPS_PROXY=http://ci:{SECRET}@10.0.0.9:3128\n" in proxy_environment_file(WITH_PASSWORD)
    # buildx create takes driver options only as arguments, which any user of the host reads in the process list.
    with pytest.raises(AnsibleFilterError, match="command line") as refused:
        proxy_driver_opts(WITH_PASSWORD)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("proxy, message", [
    ({"http_proxy": "proxy.corp:3128"}, "not a proxy URL"),
    ({"http_proxy": "ftp://proxy.corp"}, "not a proxy URL"),
    ({"http_proxy": "http://proxy.corp:3128/path"}, "has a path"),
    ({"http_proxy": "http://proxy.corp:99999"}, "port outside"),
    ({"http_proxy": f"http://ci:{SECRET}$x@proxy.corp:3128"}, "percent-encode"),
    ({"http_proxy": f"http://ci:{SECRET}\"@proxy.corp:3128"}, "percent-encode"),
    ({"http_proxy": f"http://ci:{SECRET} @proxy.corp:3128"}, "percent-encode"),
    ({"http_proxy": f"http://ci:{SECRET}\x01@proxy.corp:3128"}, "control character"),
    ({"http_proxy": f"http://ci:{SECRET}\u00e9@proxy.corp:3128"}, "outside ASCII"),
    ({"http_proxy": f"http://ci:50%off{SECRET}@proxy.corp:3128"}, "%XX escape"),
    ({"http_proxy": "http://proxy.corp:0"}, "port outside"),
    ({"http_proxy": "http://[zz]:1"}, "malformed host"),
    ({"no_proxy": "localhost"}, "says nothing"),
    ({"http_proxy": "http://proxy.corp:3128", "no_proxy": ["bad host"]}, "not a host"),
    ({"http_proxy": "http://proxy.corp:3128", "ftp_proxy": "x"}, "unknown keys"),
    ("http://proxy.corp:3128", "is a dictionary"),
])
def test_bad_settings_are_refused_without_repeating_them(proxy, message):
    with pytest.raises(AnsibleFilterError, match=message) as refused:
        proxy_environment(proxy)
    assert SECRET not in str(refused.value)


def test_ipv6_and_socks_and_ranges_are_taken():
    proxy = {"https_proxy": "socks5h://[fd00::9]:1080", "no_proxy": ["[fd00::1]", "fd00::/8", "*.svc", "*"]}
    assert proxy_environment(proxy)["no_proxy"] == "[fd00::1],fd00::/8,*.svc,*"


def test_a_percent_encoded_password_is_taken_and_the_credentials_filter_is_published():
    encoded = {"http_proxy": "http://ci:pa%24%25ss@proxy.corp:3128"}
    assert proxy_environment(encoded)["HTTP_PROXY"] == "http://ci:pa%24%25ss@proxy.corp:3128"
    assert FilterModule().filters()["proxy_has_credentials"](encoded) is True


def test_jobs_get_a_password_only_when_that_grant_is_asked_for():
    with pytest.raises(AnsibleFilterError, match="pipeline") as refused:
        proxy_runner_environment(WITH_PASSWORD)
    assert SECRET not in str(refused.value)
    assert f"HTTP_PROXY=http://ci:{SECRET}@10.0.0.9:3128" in proxy_runner_environment(WITH_PASSWORD, allow_credentials=True)
    assert proxy_runner_environment(ANONYMOUS) == proxy_runner_environment(ANONYMOUS, allow_credentials=False)
