"""The family declarations: one per package of s3prl_hf/models, consistent with the registry, and the only place
that names a family (central modules loop over the declarations)."""

import ast
from pathlib import Path

import pytest

from s3prl_hf import registry
from s3prl_hf.models import Family, families, family_names, get_family

PACKAGE = Path(registry.__file__).parent


def test_every_registry_family_is_a_declared_package_and_back():
    assert set(registry.FAMILIES) == set(family_names())
    for name, family in families().items():
        assert isinstance(family, Family) and family.name == name


@pytest.mark.parametrize("name", family_names())
def test_declaration_agrees_with_the_registry(name):
    family = get_family(name)
    specs = [spec for spec in registry.UPSTREAMS if spec.family == name]
    assert set(family.reference_configs) == {spec.name for spec in specs}
    assert all(spec.has_weights == family.has_weights for spec in specs)
    assert set(family.method_notes) | set(family.method_quirks) <= {spec.method for spec in specs}
    assert set(family.name_notes) | set(family.name_quirks) <= {spec.name for spec in specs}
    for option, kind in family.s3prl_options.items():
        assert kind in ("second_file", "checkpoint") or (isinstance(kind, tuple) and kind), option
        if isinstance(kind, tuple):  # config fields that exist
            assert all(field in family.config_class().to_dict() for field in kind), option
    assert family.hidden_state_notes and family.tiny_configs


def test_model_types_are_unique_and_namespaced():
    model_types = [family.config_class.model_type for family in families().values()]
    assert len(set(model_types)) == len(model_types) and all(t.startswith("s3prl_") for t in model_types)


def _central_modules():
    return [path for path in sorted(PACKAGE.rglob("*.py")) if "models" not in path.relative_to(PACKAGE).parts]


@pytest.mark.parametrize("path", _central_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_central_modules_never_name_a_family(path):
    """Outside s3prl_hf/models/, no module imports a family module or branches on (or keys a table by) a family."""
    names = set(family_names())
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            assert not ("models" in parts and names & set(parts)), f"{path.name} imports {node.module}"
            if parts[-1] == "models":
                assert not names & {alias.name for alias in node.names}, f"{path.name} imports a family module"
        if isinstance(node, ast.Compare):
            literals = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
            assert not names & set(literals), f"{path.name}:{node.lineno} compares with a family name"
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            assert not names & keys, f"{path.name}:{node.lineno} keys a table by family names"


def test_all_13_names_resolve_to_an_implemented_family():
    """APC (with VQ-APC), NPC, Modified CPC, DeCoAR and DeCoAR 2.0: every name, aliases included."""
    names = [name for family in ("apc", "npc", "modified_cpc", "decoar", "decoar2")
             for name in registry.list_upstreams(family=family, include_aliases=True)]
    assert sorted(names) == sorted(["apc", "apc_360hr", "apc_960hr", "vq_apc", "vq_apc_360hr", "vq_apc_960hr", "npc",
                                    "npc_360hr", "npc_960hr", "modified_cpc", "decoar_layers", "decoar", "decoar2"])
    for name in names:
        assert registry.get_spec(name).family in family_names(), name
