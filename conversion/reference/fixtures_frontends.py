"""Frontend fixtures: torchaudio's (and S3PRL's torchaudio-based) features on small fixed inputs.

Written to ``tests/fixtures/frontends/``:

* ``frontends.safetensors``: the input waveforms (int16 PCM, like the parity fixtures) and, per case, what
  torchaudio 2.11 computes from them: ``torchaudio.compliance.kaldi.{fbank,spectrogram,mfcc}`` with many option
  sets, ``torchaudio.functional.{compute_deltas,melscale_fbanks,create_dct}``, S3PRL's baseline ``extracter``
  (kaldi fbank + deltas + CMVN), S3PRL's ``OnlinePreprocessor`` (torch.stft + torchaudio MelScale / MFCC, phase or
  real/imaginary parts + log + deltas + CMVN) on a zero-padded batch, and S3PRL's ``log_stft`` ``Spectrogram`` (STFT
  magnitude, optionally its log) per utterance;
* ``frontends.json``: each case's function and options, the versions and the sha256 of the tensors file.

``tests/test_frontends.py`` checks ``s3prl_hf.frontends`` against these numbers; no torchaudio is needed there.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import torch

from fixture_common import (FORMAT_VERSION, FixtureFiles, make_wavs, sha256, versions, write_json,
                            write_safetensors_canonical)

FRONTEND_SEED = 20250614
# One zero-padded batch. 1590 samples in a 2400-sample batch gets round(1590 / (2400 / 16)) = 11 CMVN frames from
# OnlinePreprocessor where it alone has 1 + 1590 // 160 = 10: S3PRL's length rounding shows in the features.
LENGTHS = [2400, 1590, 777]

# name -> (torchaudio.compliance.kaldi function, options); applied to each utterance of the batch alone.
KALDI_CASES = {
    "fbank_tera": ("fbank", dict(num_mel_bins=80, frame_length=25.0, frame_shift=10.0, use_log_fbank=True)),
    "fbank_apc": ("fbank", dict(num_mel_bins=80, sample_frequency=16000, window_type="hamming", frame_length=25,
                                frame_shift=10)),
    "fbank_ast": ("fbank", dict(htk_compat=True, use_energy=False, window_type="hanning", num_mel_bins=128,
                                dither=0.0, frame_shift=10)),
    "fbank_energy_blackman": ("fbank", dict(use_energy=True, raw_energy=False, use_power=False,
                                            preemphasis_coefficient=0.0, remove_dc_offset=False, snip_edges=False,
                                            low_freq=60.0, high_freq=-400.0, window_type="blackman",
                                            num_mel_bins=40, energy_floor=0.0, subtract_mean=True)),
    "fbank_htk_rectangular": ("fbank", dict(use_energy=True, htk_compat=True, window_type="rectangular",
                                            use_log_fbank=False, round_to_power_of_two=False, frame_length=32.0,
                                            frame_shift=12.5, num_mel_bins=23)),
    "spectrogram_default": ("spectrogram", dict()),
    "spectrogram_options": ("spectrogram", dict(snip_edges=False, raw_energy=False, window_type="hamming",
                                                subtract_mean=True, energy_floor=0.5)),
    "mfcc_default": ("mfcc", dict()),
    "mfcc_htk_energy": ("mfcc", dict(use_energy=True, htk_compat=True, num_ceps=20, num_mel_bins=40)),
    "mfcc_htk_no_energy_no_lifter": ("mfcc", dict(htk_compat=True, cepstral_lifter=0.0, window_type="hanning")),
}

# S3PRL baseline extracter (upstream/baseline/extracter.py) configs, as in TERA's fbankBase recipe.
EXTRACTER_CASES = {
    "extracter_tera_fbank": {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80, "frame_length": 25.0,
                                                                          "frame_shift": 10.0, "use_log_fbank": True}},
                             "delta": {"order": 2, "win_length": 5}, "cmvn": {"use_cmvn": True}},
}

# S3PRL OnlinePreprocessor input features (upstream/baseline/preprocessor.py), on the zero-padded batch.
_AUDIO = {"target_level": -25, "win_ms": 25, "hop_ms": 10, "n_freq": 201, "n_mfcc": 13}
ONLINE_CASES = {
    "online_logmel80_cmvn": {**_AUDIO, "n_mels": 80, "input": {"feat_type": "mel", "log": True, "delta": 0,
                                                               "cmvn": True}},
    "online_linear201_log_cmvn": {**_AUDIO, "n_mels": 80, "input": {"feat_type": "linear", "log": True, "delta": 0,
                                                                    "cmvn": True}},
    "online_logmel40_delta2_cmvn": {**_AUDIO, "n_mels": 40, "input": {"feat_type": "mel", "log": True, "delta": 2,
                                                                      "cmvn": True}},
    "online_mel80_power": {**_AUDIO, "n_mels": 80, "input": {"feat_type": "mel", "log": False, "delta": 0,
                                                             "cmvn": False}},
    "online_logmel80_delta1": {**_AUDIO, "n_mels": 80, "input": {"feat_type": "mel", "log": True, "delta": 1,
                                                                 "cmvn": False}},
    # torchaudio's MFCC transform (128 mel bands, log(x + 1e-6)), the STFT's phase and its real/imaginary parts
    "online_mfcc20_delta1_cmvn": {**_AUDIO, "n_mfcc": 20, "n_mels": 40, "input": {"feat_type": "mfcc", "log": False,
                                                                                   "delta": 1, "cmvn": True}},
    "online_phase_cmvn": {**_AUDIO, "n_mels": 40, "input": {"feat_type": "phase", "log": False, "delta": 0,
                                                            "cmvn": True}},
    "online_complx": {**_AUDIO, "n_mels": 40, "input": {"feat_type": "complx", "log": False, "delta": 0,
                                                        "cmvn": False}},
}
# S3PRL's log_stft Spectrogram (upstream/log_stft/expert.py) configs, applied to each utterance alone.
LOG_STFT_CASES = {
    "log_stft_mag": {"n_fft": 512, "hop_length": 320, "win_length": 512, "window": "hann", "center": True,
                     "log": False},
    "log_stft_log_uncentred": {"n_fft": 512, "hop_length": 160, "win_length": 400, "window": "hann",
                               "center": False, "log": True},
}

DELTA_WINDOWS = [3, 5, 7]
MELSCALE_CASES = {
    "melscale_201x80_htk": dict(n_freqs=201, f_min=0.0, f_max=8000.0, n_mels=80, sample_rate=16000),
    "melscale_65x16_slaney": dict(n_freqs=65, f_min=60.0, f_max=7800.0, n_mels=16, sample_rate=16000, norm="slaney",
                                  mel_scale="slaney"),
}
DCT_CASES = {"dct_13x128_ortho": (13, 128, "ortho"), "dct_13x40_none": (13, 40, None)}


def build_frontends(out_root: Path, case_inputs: dict, check_dir: Path) -> List[FixtureFiles]:
    import torchaudio
    from s3prl.upstream.baseline.extracter import get_extracter
    from s3prl.upstream.baseline.preprocessor import get_preprocessor

    folder = out_root / "frontends"
    folder.mkdir()
    wavs, wavs_len = make_wavs(LENGTHS, torch.Generator().manual_seed(FRONTEND_SEED))
    utterances = [wavs[i, :n] for i, n in enumerate(wavs_len.tolist())]
    tensors = {"wavs_int16": (wavs * 32768).round().to(torch.int16), "wavs_len": wavs_len}
    assert torch.equal(tensors["wavs_int16"].float() / 32768, wavs)
    cases = {}

    with torch.no_grad():
        for name, (function, options) in KALDI_CASES.items():
            for i, wav in enumerate(utterances):
                out = getattr(torchaudio.compliance.kaldi, function)(wav[None], **options)
                tensors[f"{name}.{i}"] = out.contiguous()
            cases[name] = {"function": f"torchaudio.compliance.kaldi.{function}", "feat_type": function,
                           "options": options, "per_utterance": True}

        fbank = tensors["fbank_tera.0"]  # (frames, 80)
        for win in DELTA_WINDOWS:
            tensors[f"deltas_win{win}"] = torchaudio.functional.compute_deltas(fbank.T.contiguous(), win_length=win)
            cases[f"deltas_win{win}"] = {"function": "torchaudio.functional.compute_deltas", "input": "fbank_tera.0^T",
                                         "options": {"win_length": win}}

        for name, config in EXTRACTER_CASES.items():
            extracter, dim, _ = get_extracter(json.loads(json.dumps(config)))
            for i, wav in enumerate(utterances):
                tensors[f"{name}.{i}"] = extracter(wav).contiguous()
            cases[name] = {"function": "s3prl.upstream.baseline.extracter.get_extracter", "config": config,
                           "output_dim": dim, "per_utterance": True}

        for name, audio in ONLINE_CASES.items():
            preprocessor, dim, _ = get_preprocessor(json.loads(json.dumps(audio)), process_input_only=True)
            # As PretrainedTransformer.forward calls it: (batch, 1, samples) and the list of lengths.
            feats = preprocessor(wavs.unsqueeze(1), wavs_len=wavs_len.tolist())[0]
            tensors[name] = feats.contiguous()
            cases[name] = {"function": "s3prl.upstream.baseline.preprocessor.OnlinePreprocessor", "audio": audio,
                           "output_dim": dim, "batch": True}

        from s3prl.upstream.log_stft.expert import Spectrogram

        for name, options in LOG_STFT_CASES.items():
            extracter = Spectrogram({"spectrogram": dict(options)})
            for i, wav in enumerate(utterances):
                tensors[f"{name}.{i}"] = extracter(wav).contiguous()
            cases[name] = {"function": "s3prl.upstream.log_stft.expert.Spectrogram", "options": options,
                           "per_utterance": True}

        for name, kwargs in MELSCALE_CASES.items():
            tensors[name] = torchaudio.functional.melscale_fbanks(**kwargs).contiguous()
            cases[name] = {"function": "torchaudio.functional.melscale_fbanks", "options": kwargs}
        for name, args in DCT_CASES.items():
            tensors[name] = torchaudio.functional.create_dct(*args).contiguous()
            cases[name] = {"function": "torchaudio.functional.create_dct", "args": list(args)}

    for key, value in tensors.items():
        assert torch.isfinite(value.float()).all(), key
    metadata = {"format": "s3prl_hf.frontend_fixture", "format_version": FORMAT_VERSION,
                "torchaudio_version": torchaudio.__version__, "torch_version": torch.__version__,
                "cases": json.dumps(cases, sort_keys=True)}
    write_safetensors_canonical(tensors, folder / "frontends.safetensors", metadata)
    meta = {"format": metadata["format"], "format_version": FORMAT_VERSION, "seed": FRONTEND_SEED,
            "lengths": LENGTHS, "cases": cases, "versions": versions(),
            "files": {"frontends.safetensors": {"bytes": (folder / "frontends.safetensors").stat().st_size,
                                                "sha256": sha256(folder / "frontends.safetensors")}}}
    write_json(folder / "frontends.json", meta)
    return [FixtureFiles(name="frontends", folder=folder, meta=meta)]
