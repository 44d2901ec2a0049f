"""The real `openstack` CLI on the image service: properties, tags, sharing, save, protection."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.integration.test_openstack_cli import osc

pytestmark = pytest.mark.integration


def _json(cloud, *args: str, user: str = "demo") -> dict:
    return json.loads(osc(cloud, *args, "-f", "json", user=user).stdout)


def test_properties_tags_save_and_protection(embedded_cloud, tmp_path):
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\x5a" * (3 * 2**20 + 17))
    image = _json(embedded_cloud, "image", "create", "--file", str(data), "--disk-format", "raw",
                  "--container-format", "bare", "--property", "os_distro=debian", "osc-props")
    assert image["status"] == "active"
    osc(embedded_cloud, "image", "set", "--property", "os_type=windows", "--property", "hw_disk_bus=sata",
        "--tag", "lts", "--min-ram", "512", "osc-props")
    shown = _json(embedded_cloud, "image", "show", "osc-props")
    props = shown["properties"]
    assert (props["os_type"], props["hw_disk_bus"], props["os_distro"]) == ("windows", "sata", "debian")
    assert shown["tags"] == ["lts"] and shown["min_ram"] == 512

    # A bad value of a property the hypervisor understands is refused, naming it; nothing changes.
    bad = osc(embedded_cloud, "image", "set", "--property", "hw_disk_bus=floppy", "osc-props", check=False)
    assert bad.returncode != 0 and "hw_disk_bus" in bad.stderr
    assert _json(embedded_cloud, "image", "show", "osc-props")["properties"]["hw_disk_bus"] == "sata"

    saved = tmp_path / "saved.raw"
    osc(embedded_cloud, "image", "save", "--file", str(saved), "osc-props")
    assert hashlib.sha512(saved.read_bytes()).hexdigest() == hashlib.sha512(data.read_bytes()).hexdigest()

    osc(embedded_cloud, "image", "set", "--protected", "osc-props")
    refused = osc(embedded_cloud, "image", "delete", "osc-props", check=False)
    assert refused.returncode != 0
    osc(embedded_cloud, "image", "set", "--unprotected", "osc-props")
    osc(embedded_cloud, "image", "delete", "osc-props")
    assert "osc-props" not in [i["Name"] for i in json.loads(
        osc(embedded_cloud, "image", "list", "-f", "json").stdout)]


def test_sharing_with_another_project(embedded_cloud):
    admin_project = _json(embedded_cloud, "token", "issue", user="admin")["project_id"]
    image = _json(embedded_cloud, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                  "--shared", "osc-shared")
    osc(embedded_cloud, "image", "add", "project", "osc-shared", admin_project)
    members = json.loads(osc(embedded_cloud, "image", "member", "list", "-f", "json", "osc-shared").stdout)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(admin_project, "pending")]

    osc(embedded_cloud, "image", "set", "--accept", image["id"], user="admin")
    members = json.loads(osc(embedded_cloud, "image", "member", "list", "-f", "json", "osc-shared").stdout)
    assert [m["Status"] for m in members] == ["accepted"]

    # Only the member itself accepts or rejects: the owner cannot do it for it.
    assert osc(embedded_cloud, "image", "set", "--reject", image["id"], check=False).returncode != 0
    osc(embedded_cloud, "image", "remove", "project", "osc-shared", admin_project)
    assert json.loads(osc(embedded_cloud, "image", "member", "list", "-f", "json", "osc-shared").stdout) == []
    osc(embedded_cloud, "image", "delete", "osc-shared")


def test_cloudctl_image_quota(embedded_cloud, tmp_path):
    import os
    import subprocess
    import sys

    cloudctl = os.path.join(os.path.dirname(sys.executable), "cloudctl")

    def run(user: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([cloudctl, *args], env=embedded_cloud.env(user), capture_output=True,
                                text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"cloudctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    demo_project = _json(embedded_cloud, "token", "issue")["project_id"]
    shown = json.loads(run("demo", "image", "quota", "show", "-f", "json").stdout)
    images_used = int(shown["images"].split(" / ")[0])
    set_out = json.loads(run("admin", "image", "quota", "set", "--project", demo_project,
                             "--images", str(images_used + 1), "--bytes", "1048576", "-f", "json").stdout)
    assert set_out["images"] == f"{images_used} / {images_used + 1}"
    assert set_out["bytes"].endswith(" / 1048576")
    # A member cannot change quotas.
    assert run("demo", "image", "quota", "set", "--project", demo_project, "--images", "50",
               check=False).returncode != 0

    big = tmp_path / "big.raw"
    big.write_bytes(b"\0" * (2 * 2**20))
    over = osc(embedded_cloud, "image", "create", "--file", str(big), "--disk-format", "raw",
               "--container-format", "bare", "quota-big", check=False)
    assert over.returncode != 0 and "413" in over.stderr
    # openstacksdk deletes the record whose upload failed; the store keeps nothing either way.
    listed = json.loads(osc(embedded_cloud, "image", "list", "-f", "json").stdout)
    assert "quota-big" not in [i["Name"] for i in listed]

    run("demo", "image", "create", "fill")
    refused = run("demo", "image", "create", "one-too-many", check=False)
    assert refused.returncode != 0 and "413" in refused.stderr + refused.stdout
    osc(embedded_cloud, "image", "delete", "fill")
    run("admin", "image", "quota", "set", "--project", demo_project, "--images", "-1", "--bytes", "-1")
