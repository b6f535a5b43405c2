"""Modified CPC parity fixtures, built and run with S3PRL's own classes (``upstream/cpc``).

Each checkpoint has the layout of Libri-Light's CPC_checkpoints (what S3PRL's cpc expert reads): ``{"config": the
CPC_audio argparse options as a dict, "weights": CPCModel state_dict}``. The config is CPC_audio's full default
option set (S3PRL's ``cpc_default_config.py``) with the fixture's overrides, as a training run would record it.
S3PRL loads the weights non-strictly, so the builder checks that its model holds every tensor of the file. Every
parameter and BatchNorm statistic is perturbed.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List

import torch

from fixture_common import FixtureFiles, perturb
from native_fixture_helpers import (BASE_CASES, WITH_NORMALIZE, assert_loaded, parameter_count, s3prl_expert,
                                    write_fixture)

FIXTURES = {
    "modified_cpc_like": {
        # the release's options (ChannelNorm encoder, one LSTM level) at a tiny width
        "imitates": "modified_cpc", "hub_entry": "cpc_local", "seed": 6101, "cases": WITH_NORMALIZE,
        "options": {"hiddenEncoder": 24, "hiddenGar": 24},
    },
    "modified_cpc_variant": {
        # not a released model: BatchNorm encoder (running statistics), two GRU levels run backwards in time
        "imitates": "modified_cpc", "hub_entry": "cpc_local", "seed": 6102, "cases": BASE_CASES,
        "options": {"hiddenEncoder": 16, "hiddenGar": 12, "normMode": "batchNorm", "arMode": "GRU", "nLevelsGRU": 2,
                    "cpc_mode": "reverse"},
    },
    "modified_cpc_variant2": {
        # not a released model: InstanceNorm encoder, a tanh RNN
        "imitates": "modified_cpc", "hub_entry": "cpc_local", "seed": 6103, "cases": BASE_CASES,
        "options": {"hiddenEncoder": 12, "hiddenGar": 8, "normMode": "instanceNorm", "arMode": "RNN"},
    },
}


def build_modified_cpc(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    from s3prl.upstream.cpc.cpc_default_config import get_default_cpc_config
    from s3prl.upstream.cpc.feature_loader import getAR, getEncoder, loadArgs
    from s3prl.upstream.cpc.model import CPCModel

    produced = []
    for name, spec in FIXTURES.items():
        folder = out_root / name
        folder.mkdir()
        path = folder / "original_s3prl.pt"
        args = get_default_cpc_config()
        loadArgs(args, argparse.Namespace(**spec["options"]))
        torch.manual_seed(spec["seed"])
        model = perturb(CPCModel(getEncoder(args), getAR(args)), seed=spec["seed"] + 1)
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        config = dict(vars(args))
        torch.save({"config": config, "weights": weights}, path)

        expert = s3prl_expert(spec["hub_entry"], path)
        assert_loaded(expert.model.state_dict(), weights, f"{name}: S3PRL's loaded CPCModel")
        produced.append(write_fixture(out_root, name, spec, case_inputs, family="modified_cpc",
                                      extra_meta={"config": config,
                                                  "checks": {"s3prl_loaded_every_weight": True,
                                                             "s3prl_parameters": parameter_count(expert.model)}}))
    return produced
