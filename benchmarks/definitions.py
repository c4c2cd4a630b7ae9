"""The quasiparticle definitions the benchmarks apply: independent instances, trees, layered forests, fan-outs."""

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


def layered(image_id: str, widths: tuple[int, ...], name: str = "bench-layer") -> dict[str, Any]:
    """Levels of ``widths[0]``, ``widths[1]``, ... instances: a forest of ``widths[0]`` trees.

    Every width must be a multiple of the first. Each level is made of groups of ``widths[0]`` copies;
    group ``j`` of a level names group ``j mod n`` of the level before (``n`` groups there), and groups of
    the same size pair by index, so each instance has exactly one parent: (20, 40, 40) gives 20 roots with
    2 children each, and each of those 1 child.
    """
    size = widths[0]
    if any(width % size for width in widths):
        raise ValueError(f"every width must be a multiple of the first: {widths}")
    members: list[dict[str, Any]] = []
    previous: list[str] = []
    for level, width in enumerate(widths):
        groups = [f"{name}-{level}-{j}" for j in range(width // size)]
        for j, group in enumerate(groups):
            parents = [f"{FLAVOR}:{previous[j % len(previous)]}"] if previous else None
            members.append(instance(group, image_id, multiplier=size, parents=parents))
        previous = groups
    return quasiparticle(name, members)


def fan_out(image_id: str, children: int, name: str = "bench-fan") -> dict[str, Any]:
    """One root and ``children`` instances that all name it: 2 levels, ``1 + children`` particles."""
    root = instance(f"{name}-root", image_id)
    leaves = instance(f"{name}-leaf", image_id, multiplier=children, parents=[f"{FLAVOR}:{name}-root"])
    return quasiparticle(name, [root, leaves])
