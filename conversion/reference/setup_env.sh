#!/usr/bin/env bash
# Create the S3PRL reference environment (s3prl 0.4.18 + fairseq-fixed 0.12.3.1 on torch 2.13.0 CPU).
#
#   bash conversion/reference/setup_env.sh $REFENV
#
# Used only to regenerate the parity fixtures (make_fixtures.py); the package, its tests and CI never need it.
# Every package is pinned and installed with --no-deps, so nothing can pull a different (CUDA) torch.
# See README.md in this folder for why each step is there.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 ENV_DIR" >&2
    exit 2
fi
ENV_DIR=$1
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'EOF'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f"python 3.11 is required (the torch 2.13.0 CPU wheel is cp311), got {sys.version.split()[0]}")
EOF

if [[ -e "$ENV_DIR" ]]; then
    echo "$ENV_DIR already exists; remove it first" >&2
    exit 1
fi

"$PYTHON" -m venv "$ENV_DIR"
PIP=("$ENV_DIR/bin/pip" --disable-pip-version-check --no-input)

# 1. torch first and alone: `torch==2.13.0` takes the CPU wheel that lies on disk (pip find-links); any
#    unpinned/other torch request would pull a multi-GB CUDA build.
"${PIP[@]}" install --no-deps torch==2.13.0

# 2. everything that torch, s3prl (hub import + hubert/wav2vec2 upstreams), fairseq (checkpoint_utils, tasks,
#    trainer, hubert) and transformers (imported by s3prl.hub) import, plus fairseq's build requirements.
LOCK=$(mktemp)
trap 'rm -f "$LOCK"' EXIT
cat >"$LOCK" <<'EOF'
# torch's own dependencies
filelock==4.3.1
fsspec==2026.9.0
Jinja2==3.1.6
MarkupSafe==3.0.4
mpmath==1.3.0
networkx==3.6.1
setuptools==84.2.1
sympy==1.14.0
typing_extensions==4.16.0
# s3prl 0.4.18 (core requirements)
numpy==2.4.6
omegaconf==2.3.0
antlr4-python3-runtime==4.9.3
PyYAML==6.0.4
tqdm==4.70.1
requests==2.34.2
certifi==2026.10.19.post1
charset-normalizer==3.5.3
idna==3.20
urllib3==2.8.0
protobuf==7.36.2
# transformers (s3prl.hub imports hf_hubert / hf_wav2vec2 experts)
transformers==5.24.0
tokenizers==0.23.3
safetensors==0.8.0
regex==2026.11.19
packaging==26.4
huggingface_hub==2.4.0
hf-xet==1.8.0
httpx2==2.16.2
httpcore2==2.16.2
h11==0.16.0
anyio==4.16.0
truststore==0.10.5
typer==0.29.2
click==8.5.1
rich==15.0.0
markdown-it-py==4.3.0
mdurl==0.1.2
Pygments==2.21.0
shellingham==1.5.4
annotated-doc==0.0.7
pydantic==2.14.4
pydantic_core==2.50.5
annotated-types==0.8.0
typing-inspection==0.4.5
# fairseq-fixed 0.12.3.1 (runtime imports) and its build requirements
hydra-core==1.3.2
bitarray==3.12.3
sacrebleu==2.6.0
colorama==0.4.6
lxml==6.1.3
portalocker==4.4.2
tabulate==0.10.0
scikit-learn==1.9.1
scipy==1.17.1
joblib==1.6.0
threadpoolctl==3.8.0
narwhals==2.29.0
cloudpickle==3.1.3
cffi==2.1.1
pycparser==3.12
Cython==3.3.1
wheel==0.48.0
# S3PRL's ast / ssast build their ViTs with timm and assert 0.4.5 (fixtures_ast.py stands in for torchvision / PIL)
timm==0.4.5
EOF
"${PIP[@]}" install --no-deps -r "$LOCK"
TORCH_VERSION=$("$ENV_DIR/bin/python" -c 'import torch; print(torch.__version__)')
case "$TORCH_VERSION" in
    2.13.0+cpu) ;;
    2.13.0*) echo "warning: torch $TORCH_VERSION is not the CPU build (no CPU wheel on disk?)" >&2 ;;
    *) echo "error: expected torch 2.13.0, got $TORCH_VERSION" >&2; exit 1 ;;
esac

# 3. the reference packages themselves, without their (unpinned, torch-pulling) dependency lists
"${PIP[@]}" install --no-deps torchaudio==2.11.0 s3prl==0.4.18
# einops: BYOL-S's CvT (upstream/byol_s/byol_a/models/cvt.py) imports it inside Attention.forward (byol fixtures)
"${PIP[@]}" install --no-deps einops==0.8.2
# fairseq-fixed is an sdist with C++/Cython extensions: build it against the torch/numpy/Cython above
# (build isolation would fetch an unpinned torch into the build environment).
"${PIP[@]}" install --no-deps --no-build-isolation --no-cache-dir fairseq-fixed==0.12.3.1

# 4. torchaudio 2.11's compiled extension is built against another torch and fails to load on 2.13
#    ("Could not load this library: .../_torchaudio.abi3.so"). torchaudio only loads it when the files exist
#    (torchaudio/_extension/utils.py:_load_lib), so removing them leaves the pure-python parts working.
TA_LIB=$("$ENV_DIR/bin/python" - <<'EOF'
import importlib.util, os
spec = importlib.util.find_spec("torchaudio")
print(os.path.join(os.path.dirname(spec.origin), "lib"))
EOF
)
rm -f "$TA_LIB"/*.so

# 5. smoke test: everything make_fixtures.py imports
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(cd "$HERE" && "$ENV_DIR/bin/python" - <<'EOF'
import logging
logging.disable(logging.WARNING)
import s3prl_shim  # noqa: F401  (before s3prl)
import torch, torchaudio, s3prl, fairseq
from s3prl.nn import S3PRLUpstream  # noqa: F401
from s3prl.upstream.hubert.convert import load_and_convert_fairseq_ckpt  # noqa: F401
from fairseq import checkpoint_utils, tasks  # noqa: F401
from fairseq.models.hubert import HubertModel  # noqa: F401
from fairseq.trainer import Trainer  # noqa: F401
print("reference environment OK:", "torch", torch.__version__, "torchaudio", torchaudio.__version__,
      "s3prl", s3prl.__version__, "fairseq", fairseq.__version__)
EOF
)
"${PIP[@]}" check
