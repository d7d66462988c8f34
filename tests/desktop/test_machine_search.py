"""Finding machines by id or name."""

from __future__ import annotations

from xrclient.desktop.machine_search import MachineSearch
from xrclient.resources import scene_path
from xrclient.scene.schema import load_scene


def test_exact_ids_first_then_prefixes_then_names_then_substrings() -> None:
    scene = load_scene(scene_path("demo-plant"))
    search = MachineSearch(scene.machines)
    ids = [m.id for m in scene.machines]
    found = [ids[i] for i in search.find("prs-b4")]
    assert found[0] == "PRS-B4"
    by_prefix = [ids[i] for i in search.find("RBT", limit=50)]
    assert by_prefix and all(i.startswith("RBT") for i in by_prefix)
    by_name = [scene.machines[i].name for i in search.find("press", limit=50)]
    assert by_name and all("press" in n.casefold() for n in by_name)
    assert search.find("b4", limit=50)  # a substring of ids
    assert search.find("") == [] and search.find("zzz-no-such") == []
    assert len(search.find("a", limit=3)) == 3
