"""One registry per concept: the names users choose among and the code that acts on them agree."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch

from server.db import ACTIVE_STATES, FINAL_STATES, JOB_STATES, JobState
from server.schemas import AdaptIn, TTSIn
from voiceadapt import adapt, names
from voiceadapt.audio import float_to_pcm16, pcm16_to_float
from voiceadapt.models import vocoders
from voiceadapt.models.padding import pad_right


def test_every_named_mode_has_a_fitter_and_the_schemas_take_exactly_them():
    assert tuple(adapt.MODES) == names.MODE_NAMES
    assert all(callable(m.fit) for m in adapt.MODES.values())
    assert [m for m in adapt.MODES if adapt.MODES[m].iterative] == list(names.ITERATIVE_MODES)
    for mode in names.ITERATIVE_MODES:
        assert AdaptIn(mode=mode).mode == mode
    with pytest.raises(ValueError):
        AdaptIn(mode="sea-enc")  # one forward pass: made with the voice, never a job


def test_an_unknown_mode_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="sea-enc, sea-emb, sea-all, patch"):
        adapt.adapt(None, "sea-magic", [])
    with pytest.raises(ValueError, match="unknown adaptation mode"):
        adapt.VoiceProfile(mode="sea-magic", embedding=torch.zeros(4), backbone="x", seconds=1.0)


def test_vocoder_names_are_the_ones_the_library_and_the_api_accept():
    assert names.VOCODER_NAMES == ("auto", *names.VOCODERS)  # "auto" and the vocoders
    assert typing.get_args(TTSIn.model_fields["vocoder"].annotation) == names.VOCODER_NAMES
    with pytest.raises(ValueError, match="unknown vocoder"):
        vocoders.resolve_vocoder(None, "hifigan")


def test_job_states_partition_into_active_and_final():
    assert set(ACTIVE_STATES) | set(FINAL_STATES) == set(JOB_STATES) == set(JobState)
    assert not set(ACTIVE_STATES) & set(FINAL_STATES)
    assert JobState.QUEUED == "queued" and f"{JobState.FAILED}" == "failed"  # stored as text


def test_pad_right_keeps_values_and_lengths():
    padded, lengths = pad_right([np.array([1, 2, 3]), np.array([4])])
    assert padded.tolist() == [[1, 2, 3], [4, 0, 0]] and lengths.tolist() == [3, 1]
    mels, lens = pad_right([torch.ones(2, 5), torch.ones(2, 2)])
    assert mels.shape == (2, 2, 5) and mels[1, :, 2:].abs().sum() == 0 and lens.tolist() == [5, 2]
    with pytest.raises(ValueError):
        pad_right([])


def test_pcm16_round_trip_and_clipping():
    pcm = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    x = pcm16_to_float(pcm)
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() < 1.0
    back = float_to_pcm16(x)
    assert np.abs(back.astype(int) - pcm).max() <= 1
    assert float_to_pcm16(np.array([2.0, -2.0])).tolist() == [32767, -32767]
