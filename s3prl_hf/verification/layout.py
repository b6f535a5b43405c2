"""Where a published folder keeps its verification data, and the tolerance: facts that need no torch."""

FOLDER = "verification"
INPUTS_FILE = "inputs.safetensors"
STATES_FILE = "s3prl_hidden_states.safetensors"
INFO_FILE = "info.json"
FORMAT_VERSION = 1
# The project's parity tolerance (README, DESIGN.md): per hidden state, valid frames only.
TOLERANCE = 1e-4
TOLERANCE_DEFINITION = ("per hidden state and input: max |converted - S3PRL| over valid frames / max(1, max |S3PRL| "
                        "over valid frames); lengths exactly equal")


class VerificationDataError(OSError):
    """A folder or repo holds no (or unreadable) verification data."""
