"""TLS to the real apiserver: a kubeconfig context that skips verification says so ONCE.

urllib3 warns (``InsecureRequestWarning``, several lines) on every unverified request;
``b2tui status`` makes a dozen. Through the CLI, as a user runs it, stderr must carry one
line naming the context instead, and a verified context none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.realkube.cluster import RealKube
from tests.realkube.seed import FIXTURES, ROOT

pytestmark = pytest.mark.integration

CONFIG = """
[service]
name = "shop"
image = "registry.local/web"

[environments.staging]
context = "{context}"
namespace = "{ns}"
deployment = "web"
service = "web"

[environments.production]
context = "{context}"
namespace = "{ns}"
deployment = "web"
service = "web"
"""


def status(kubeconfig: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(config.parent),
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "b2tui",
            "status",
            "--config",
            str(config),
            "--env",
            "production",
            "--json",
        ],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("insecure", [True, False])
def test_skipped_tls_verification_is_one_line_naming_the_context(
    realkube: RealKube, kube_ns: str, tmp_path: Path, insecure: bool
) -> None:
    realkube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=kube_ns)
    context = "lab-insecure" if insecure else "lab"
    kubeconfig = realkube.write_kubeconfig(
        tmp_path / "kubeconfig", user="tester", context=context, insecure=insecure
    )
    config = tmp_path / "b2tui.toml"
    config.write_text(CONFIG.format(context=context, ns=kube_ns))

    res = status(kubeconfig, config)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [d["name"] for d in doc["deployments"]] == ["web"]
    assert len(doc["pods"]) >= 1  # many requests went out: deployments, RSes, pods...
    lines = res.stderr.splitlines()
    if insecure:
        assert lines == [
            f"b2tui: warning: kube context {context} skips TLS verification"
            f" (insecure-skip-tls-verify in {kubeconfig}): the identity of {realkube.url}"
            " is not checked"
        ], res.stderr
    else:
        assert lines == [], res.stderr
    assert "InsecureRequestWarning" not in res.stderr
