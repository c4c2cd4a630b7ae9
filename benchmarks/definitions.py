"""The quasiparticle definitions the benchmarks apply: independent instances and a 3-level tree."""

from __future__ import annotations

from typing import Any

INSTANCE_TYPE = "t3.micro"
FLAVOR = "ec2_instance"


def instance(
    name: str, image_id: str, *, multiplier: int | None = None, parents: list[str] | None = None
) -> dict[str, Any]:
    """One ``ec2_instance`` member definition (multiplied copies are named ``name-0``, ``name-1``, ...)."""
    definition: dict[str, Any] = {
        "pcf_name": name,
        "flavor": FLAVOR,
        "aws_resource": {
            "custom_config": {"instance_name": name},
            "ImageId": image_id,
            "InstanceType": INSTANCE_TYPE,
        },
    }
    if multiplier is not None:
        definition["multiplier"] = multiplier
    if parents:
        definition["parents"] = parents
    return definition


def quasiparticle(name: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    """A quasiparticle definition holding ``members``."""
    return {"pcf_name": name, "flavor": "quasiparticle", "particles": members}


def independent(count: int, image_id: str) -> dict[str, Any]:
    """``count`` instances with no dependencies: one level."""
    name = f"bench-flat-{count}"
    member = instance(name, image_id) if count == 1 else instance(name, image_id, multiplier=count)
    return quasiparticle(name, [member])


def tree(image_id: str, children: int = 9, grandchildren_each: int = 10) -> dict[str, Any]:
    """A 3-level tree: 1 root -> ``children`` -> ``children * grandchildren_each`` (default 1 + 9 + 90 = 100).

    Each child has its own group of grandchildren (``leaf-<i>`` with parent ``mid-<i>``), so the
    graph is a real tree; a single ``leaf`` group of 90 naming the ``mid`` group of 9 would fan out
    to every copy (groups of different sizes do not pair by index).
    """
    root = instance("bench-root", image_id)
    mids = instance("bench-mid", image_id, multiplier=children, parents=[f"{FLAVOR}:bench-root"])
    leaves = [
        instance(f"bench-leaf-{i}", image_id, multiplier=grandchildren_each, parents=[f"{FLAVOR}:bench-mid-{i}"])
        for i in range(children)
    ]
    return quasiparticle("bench-tree", [root, mids, *leaves])


def tree_size(children: int = 9, grandchildren_each: int = 10) -> int:
    """How many particles ``tree`` makes."""
    return 1 + children + children * grandchildren_each
