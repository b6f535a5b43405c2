"""VGGish family: the vggish name (S3PRL's vggish expert, torchvggish's weights)."""

from ..family import Family, SecondFile
from . import notes
from .configuration_vggish import REFERENCE_CONFIGS, S3prlVggishConfig
from .modeling_vggish import S3prlVggishModel
from .convert_vggish import convert_release

FAMILY = Family(
    name="vggish",
    config_class=S3prlVggishConfig,
    model_class=S3prlVggishModel,
    convert=convert_release,
    reference_configs=REFERENCE_CONFIGS,
    tiny_configs=(
        # VGGish with a shrunk frontend too: S3PRL's needs 0.975 s per utterance (one 96-frame example); here a 4-frame
        # example of 64-sample windows (112 samples) and a stride of one example hop, so the short cases run.
        dict(features_config=[4, "M", 8, "M"], embedding_sizes=[16, 8], pca_size=8, stft_window_length=64,
             stft_hop_length=16, num_mel_bins=16, example_window_frames=4, example_hop_frames=4,
             downsample_rate=64),
    ),
    second_file=SecondFile(what="its PCA parameters (vggish_pca_params-970ea276.pth)", name_fragments=("pca",)),
    hidden_state_notes=notes.HIDDEN_STATES,
    quirks=notes.QUIRKS,
    audio_only=True,
)

__all__ = ["FAMILY", "REFERENCE_CONFIGS", "S3prlVggishConfig", "S3prlVggishModel"]
