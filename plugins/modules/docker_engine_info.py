#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multiarch.buildhost contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: docker_engine_info
short_description: Report the Docker Engine's versions and multi-platform features
version_added: 0.1.0
description:
  - Reads the client and server versions, the API version, the server's experimental flag, the buildx plugin's version
    and whether the containerd image store is in use, and compares the engine with a minimum version.
  - The server is read through the Docker SDK for Python when it is installed, and through the docker CLI otherwise.
  - Works when Docker is missing (RV(installed=false)) or stopped (RV(running=false)); never changes anything.
author: Multiarch Buildhost Team (@multiarch-buildhost)
extends_documentation_fragment:
  - multiarch.buildhost.attributes
  - multiarch.buildhost.attributes.INFO_MODULE
  - multiarch.buildhost.owner.docker_host
options:
  min_version:
    description:
      - The oldest acceptable engine version. Suffixes such as C(+dfsg1) or C(-ce) are ignored when comparing.
    type: str
    default: "19.03"
requirements:
  - The docker CLI, or the Docker SDK for Python, on the managed host.
"""

EXAMPLES = r"""
- name: Read the engine
  multiarch.buildhost.docker_engine_info:
    min_version: "20.10"
  register: engine

- name: Refuse old engines
  ansible.builtin.assert:
    that: engine.meets_min_version
    fail_msg: "Docker {{ engine.server_version }} is older than 20.10"
"""

RETURN = r"""
installed:
  description: Whether the docker CLI or dockerd is installed.
  returned: always
  type: bool
running:
  description: Whether the daemon answered.
  returned: always
  type: bool
client_version:
  description: The docker CLI's version.
  returned: always
  type: str
  sample: 26.1.5+dfsg1
server_version:
  description: The daemon's version; when the daemon is stopped, the installed dockerd's version.
  returned: always
  type: str
  sample: 26.1.5+dfsg1
api_version:
  description: The daemon's API version.
  returned: always
  type: str
  sample: "1.45"
experimental:
  description: Whether the daemon runs with experimental features. V(null) when it is not running.
  returned: always
  type: bool
buildx_version:
  description: The buildx plugin's version, or V(null) when the plugin is absent.
  returned: always
  type: str
  sample: 0.13.1+ds1
containerd_snapshotter:
  description: Whether the daemon uses the containerd image store, which lets the C(docker) buildx driver build multi-platform images.
  returned: always
  type: bool
supports_containerd_snapshotter:
  description: Whether the engine is new enough (24.0) for the C(containerd-snapshotter) feature in daemon.json.
  returned: always
  type: bool
min_version:
  description: The minimum the engine was compared with (O(min_version)).
  returned: always
  type: str
  sample: "19.03"
meets_min_version:
  description: Whether RV(server_version) is at least O(min_version).
  returned: always
  type: bool
engine_package:
  description:
    - The package that installed C(dockerd), found through dpkg or rpm, with its version and package manager.
    - V(docker.io) is the distribution's package, V(docker-ce) Docker's; an empty name means dockerd was not installed
      by a package. V(null) when dockerd is not installed.
  returned: always
  type: dict
  sample: {"name": "docker.io", "version": "26.1.5+dfsg1-9+b1", "manager": "dpkg"}
data_root:
  description: The daemon's data directory (C(DockerRootDir)); V(null) when it is not running.
  returned: always
  type: str
  sample: /var/lib/docker
data_root_size_bytes:
  description:
    - The size of the filesystem that holds RV(data_root), for sizing BuildKit's garbage collection.
    - V(null) when the daemon is not running or its data directory is not on this host.
  returned: always
  type: int
data_root_free_bytes:
  description:
    - The bytes free for new data (what an unprivileged writer may still use) on the filesystem that holds RV(data_root);
      the fleet report warns below a threshold. V(null) when RV(data_root_size_bytes) is.
  returned: always
  type: int
  version_added: 0.3.0
data_root_inodes:
  description:
    - The inodes of the filesystem that holds RV(data_root), free or not (C(statvfs)'s C(f_files)). The GC policy caps
      the build cache at a share of them, counted as one block each. V(null) when RV(data_root_size_bytes) is, or where
      the filesystem has no fixed inode count (btrfs).
  returned: always
  type: int
  version_added: 0.3.0
data_root_free_inodes:
  description:
    - The free inodes of that filesystem, which a cache of many small files runs out of before its bytes. V(null) when
      RV(data_root_size_bytes) is, or where the filesystem has no fixed inode count (btrfs).
  returned: always
  type: int
  version_added: 0.3.0
data_root_block_size:
  description:
    - The block size in bytes of that filesystem (C(statvfs)'s C(f_frsize)), the least a file with data holds. V(null)
      when RV(data_root_size_bytes) is.
  returned: always
  type: int
  version_added: 0.3.0
service_enabled:
  description:
    - Whether systemd starts C(docker.service) at boot (C(systemctl is-enabled)). V(null) without systemd, when
      Docker is not installed, or when systemd cannot say.
  returned: always
  type: bool
service_drop_ins:
  description:
    - The drop-in files systemd applies to C(docker.service) (C(DropInPaths)), such as the proxy drop-in of the
      C(multiarch.buildhost.docker) role. V(null) without systemd or when Docker is not installed.
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/docker.service.d/multiarch-proxy.conf]
  version_added: 0.3.0
docker_group_members:
  description:
    - The users listed as members of the C(docker) group, whose members may use the daemon's socket (a user whose
      primary group it is is not listed). V(null) when the group does not exist, as before the engine is installed.
  returned: always
  type: list
  elements: str
  sample: [builder]
source:
  description: Where the server facts came from (V(api), V(cli) or V(dockerd --version)).
  returned: always
  type: str
error:
  description: Why the daemon could not be read, when it could not.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multiarch.buildhost.plugins.module_utils._docker_cli import DockerCli, docker_host_argument_spec
from ansible_collections.multiarch.buildhost.plugins.module_utils._engine_info import engine_info
from ansible_collections.multiarch.buildhost.plugins.module_utils._errors import BuildhostError
from ansible_collections.multiarch.buildhost.plugins.module_utils._version import parse_version


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(min_version=dict(type="str", default="19.03"), **docker_host_argument_spec()),
        supports_check_mode=True,
    )
    try:
        parse_version(module.params["min_version"])
        result = engine_info(DockerCli(module, docker_host=module.params["docker_host"]), module.params["min_version"])
    except BuildhostError as exc:
        module.fail_json(msg=f"docker_engine_info: {exc} (min_version={module.params['min_version']!r})")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
