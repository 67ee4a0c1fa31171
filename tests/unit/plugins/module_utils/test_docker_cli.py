"""What root's environment hands to a docker CLI run as another user."""
from __future__ import annotations

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import inherited_by_another_user


def test_only_the_search_path_time_zone_and_plain_proxies_are_passed_on():
    root = {"PATH": "/usr/bin", "TZ": "UTC", "HOME": "/root", "DOCKER_HOST": "tcp://x:1", "BUILDX_CONFIG": "/root/b",
            "http_proxy": "http://proxy.lan:3128", "NO_PROXY": "localhost,.lan", "MBH_TOKEN": "t"}
    assert inherited_by_another_user(root) == {"PATH": "/usr/bin", "TZ": "UTC", "http_proxy": "http://proxy.lan:3128",
                                               "NO_PROXY": "localhost,.lan"}


def test_a_proxy_with_credentials_stays_with_root_in_every_spelling():
    root = {"HTTPS_PROXY": "http://root:pw@proxy.lan:3128", "https_proxy": "root:pw@proxy.lan:3128",
            "HTTP_PROXY": "http://glpat-token@proxy.lan", "http_proxy": "http://u:p%40ss@proxy.lan"}
    assert inherited_by_another_user(root) == {}
