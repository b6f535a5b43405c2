"""S3PRL's recipes of the released APC, VQ-APC, NPC, Modified CPC, DeCoAR and DeCoAR 2.0 models
(tests/fixtures/native_recipes/recipes.json, made in the reference environment): each name's config and the parameter
count of S3PRL's own model built from it; and the check of a released architecture against that count."""

import json

from conftest import FIXTURES
from parameter_counts import on_meta, parameter_count
from s3prl_hf import registry

RECIPES = json.loads((FIXTURES / "native_recipes" / "recipes.json").read_text())["recipes"]


def recipe_names(family: str) -> list[str]:
    """The names of `family` that have a recipe, sorted."""
    return sorted(name for name in RECIPES if registry.get_spec(name).family == family)


def assert_s3prl_parameter_count(name: str, published: float | None = None) -> None:
    """The released architecture, built on the meta device, has exactly the parameters of S3PRL's own model built from
    the same recipe (counted in the reference environment), and the published count (to 0.01 M) where there is one."""
    count = parameter_count(on_meta(name))
    assert count == RECIPES[name]["s3prl_parameters"]
    if published is not None:
        assert round(count / 1e4) == round(published / 1e4), count
