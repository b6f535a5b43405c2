#!/usr/bin/env bash
# Add ESPnet to an existing S3PRL reference environment, for the espnet_hubert fixtures only:
#
#   bash conversion/reference/setup_env.sh $REFENV_ESPNET
#   bash conversion/reference/setup_env_espnet.sh $REFENV_ESPNET
#
# S3PRL's espnet_hubert expert calls `espnet2.tasks.hubert.HubertTask.build_model_from_file`. Importing that module
# pulls in much of ESPnet (its trainer, text frontends, data loaders); these pins are exactly the packages that import
# chain needs on top of setup_env.sh's lock, each installed with --no-deps so nothing can replace torch. S3PRL's own
# installer (external_tools/install_espnet.sh) asks for "espnet>=202308", unpinned; 202511 is the newest release, and
# its hubert path (tasks/hubert.py, asr/encoder/hubert_encoder.py, build_model_from_file) is the same as 202506's.
#
# `g2p_en` is not installed: espnet2/text/phoneme_tokenizer.py imports it at module level, and importing g2p_en
# downloads NLTK data over the network. fixtures_espnet_hubert.py registers an inert stand-in module instead (the
# hubert path never calls it).
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 ENV_DIR (an environment made by setup_env.sh)" >&2
    exit 2
fi
ENV_DIR=$1
if [[ ! -x "$ENV_DIR/bin/python" ]]; then
    echo "$ENV_DIR is not an environment; create it with setup_env.sh first" >&2
    exit 1
fi
PIP=("$ENV_DIR/bin/pip" --disable-pip-version-check --no-input)
TORCH_BEFORE=$("$ENV_DIR/bin/python" -c "import torch; print(torch.__version__)")

LOCK=$(mktemp)
trap 'rm -f "$LOCK"' EXIT
cat >"$LOCK" <<'EOF'
espnet==202511
# espnet2.tasks.hubert / abs_task
humanfriendly==10.0
typeguard==4.6.1
# espnet2.asr.frontend (ComplexTensor) and layers/log_mel.py (`import librosa`, lazy since 0.10)
torch-complex==0.4.4
librosa==0.11.0
lazy-loader==0.6
# espnet2.train.dataset / fileio
h5py==3.16.0
kaldiio==2.18.1
soundfile==0.14.0
# espnet2.train.trainer -> main_funcs.calculate_all_attentions -> gan_tts.jets (numba at import)
numba==0.68.1
llvmlite==0.50.0
# espnet2.text (tokenizers and cleaners, imported by tasks/hubert.py)
jamo==0.4.1
sentencepiece==0.2.3
espnet_tts_frontend==0.0.4
jaconv==0.5.0
Unidecode==1.4.0
inflect==7.6.0
more-itertools==11.2.1
EOF
"${PIP[@]}" install --no-deps -r "$LOCK"

"$ENV_DIR/bin/python" - "$TORCH_BEFORE" <<'EOF'
import importlib.machinery
import sys
import types

import torch

if torch.__version__ != sys.argv[1]:
    sys.exit(f"torch changed from {sys.argv[1]} to {torch.__version__}")
stand_in = types.ModuleType("g2p_en")
stand_in.__spec__ = importlib.machinery.ModuleSpec("g2p_en", None)
sys.modules["g2p_en"] = stand_in
from espnet2.tasks.hubert import HubertTask  # noqa: E402,F401
import espnet  # noqa: E402

print(f"espnet environment OK: espnet {espnet.__version__}, torch {torch.__version__}")
EOF
