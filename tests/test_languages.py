"""The acoustic model's language embedding (issue 13): stored with the checkpoint, zero until
trained (so a warm start speaks as before), chosen by the transcript's language in training and
adaptation, and English at synthesis."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tests.helpers import compact_backbone, speechlike
from voiceadapt.models.backbone import Backbone
from voiceadapt.models.checkpoint import load, save


def _with_languages(languages: list[str]) -> Backbone:
    base = compact_backbone()
    acoustic = dataclasses.replace(base.cfg.acoustic, languages=len(languages))
    cfg = dataclasses.replace(base.cfg, acoustic=acoustic)
    torch.manual_seed(0)
    return Backbone(cfg, base.speakers, base.symbols, base.features, base.stats, languages).eval()


def test_languages_round_trip_and_are_found_by_code(tmp_path):
    model = _with_languages(["cs", "en-us", "fi"])
    again = load(save(model, tmp_path / "m.safetensors"))
    assert again.languages == ["cs", "en-us", "fi"] and again.cfg.acoustic.languages == 3
    assert again.language_index("fi") == 2
    assert again.language_index("en-gb") == 1  # the same language, another accent
    with pytest.raises(ValueError, match="not trained on language 'ru'.*cs, en-us, fi"):
        again.language_index("ru")
    assert again.language_ids(["fi", "cs"]).tolist() == [2, 0]
    assert load(save(compact_backbone(), tmp_path / "old.safetensors")).language_ids(["ru"]) is None
    with pytest.raises(ValueError, match="2 language names for an acoustic model with 3"):
        Backbone(model.cfg, model.speakers, model.symbols, model.features, model.stats, ["a", "b"])


def test_a_new_embedding_is_silent_until_trained_and_then_tells_languages_apart():
    from training.train import with_languages

    plain = compact_backbone().eval()
    grown = with_languages(plain, ["en-us", "fi"]).eval()
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    g = plain.speaker_table.weight[:1].detach()
    before, _ = plain.acoustic.infer(ids, g)
    for code in ("en-us", "fi"):
        after, _ = grown.acoustic.infer(ids, g, lang=grown.language_ids([code]))
        assert torch.allclose(before, after)
    with torch.no_grad():
        grown.acoustic.language.weight[1].normal_()
    en, _ = grown.acoustic.infer(ids, g, lang=grown.language_ids(["en-us"]))
    fi, _ = grown.acoustic.infer(ids, g, lang=grown.language_ids(["fi"]))
    assert en.shape != fi.shape or not torch.allclose(en, fi)
    assert with_languages(grown, ["en-us", "fi"]) is grown
    with pytest.raises(ValueError, match="not this run's"):
        with_languages(grown, ["en-us", "ru"])
    with pytest.raises(ValueError, match="no language embedding"):
        plain.acoustic.infer(ids, g, lang=torch.tensor([0]))


def test_synthesis_speaks_english_and_adaptation_hears_the_transcripts_language():
    from voiceadapt.adapt.fit import clip_batch, prepare_clips
    from voiceadapt.audio import float_to_pcm16
    from voiceadapt.inference.synthesize import synthesize

    model = _with_languages(["cs", "en-us"])
    with torch.no_grad():
        model.acoustic.language.weight.normal_()
    g = model.speaker_table.weight[0].detach()
    wav, _ = synthesize("Hello there.", embedding=g, model=model, vocoder="griffin-lim")
    assert len(wav) > 0 and np.isfinite(wav).all()
    with torch.no_grad():
        model.acoustic.language.weight[1].zero_()  # English's row: the speech must change
    quiet, _ = synthesize("Hello there.", embedding=g, model=model, vocoder="griffin-lim")
    assert len(quiet) != len(wav) or not np.allclose(quiet, wav)
    czech_only = _with_languages(["cs"])
    with pytest.raises(ValueError, match="not trained on language 'en-us'"):
        synthesize("Hello.", embedding=czech_only.speaker_table.weight[0].detach(),
                   model=czech_only, vocoder="griffin-lim")
    clip = float_to_pcm16(speechlike(1.5, model.features.sample_rate))
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, clip, model.features.sample_rate, format="WAV")
    clips = prepare_clips(model, [buf.getvalue()], ["dobrý den, jak se máte"], "sea-emb",
                          language="cs")
    assert clips[0].lang == 0 and clip_batch(clips)["lang"].tolist() == [0]
    from voiceadapt.adapt.fit import split_heldout

    fitted, held = split_heldout(model, clips, 0.3)  # one clip: cut in two, language kept
    assert clip_batch(fitted)["lang"].tolist() == clip_batch(held)["lang"].tolist() == [0]
    with pytest.raises(ValueError, match="some clips name their language"):
        clip_batch([clips[0], dataclasses.replace(clips[0], lang=None)])
    plain = prepare_clips(compact_backbone(), [buf.getvalue()], ["hello"], "sea-emb")
    assert "lang" not in clip_batch(plain)


def test_training_with_a_language_embedding_learns_each_corpus_language(v2_tiny_corpus, tmp_path):
    """Corpus v2's tiny preset speaks English, Czech and Italian: the run's embedding has their
    three rows, each trained away from zero, packs keep each utterance's language, and the
    saved model says which row is which."""
    from training.config import from_dict
    from training.data import load_corpus_items
    from training.pack import read_pack, write_pack
    from training.train import Trainer
    from voiceadapt.audio import FeatureParams

    corpus, _, root = v2_tiny_corpus
    params = FeatureParams()
    items, speakers = load_corpus_items(corpus.root, root / "cache", params, "train")
    languages = sorted({it.language for it in items})
    assert len(languages) == 3 and "" not in languages
    packed, _ = read_pack(write_pack(items, speakers, tmp_path / "p.npz", params), params)
    assert [it.language for it in packed] == [it.language for it in items]
    cfg = from_dict({
        "model": {"size": "compact", "speaker_channels": 16, "symbols": "ipa-2",
                  "language_embedding": True},
        "train": {"steps": 6, "batch_size": 8, "wavenet": False, "warmup_steps": 1,
                  "checkpoint_every": 6, "log_every": 3, "lr": 0.01},
    })
    trainer = Trainer(cfg, tmp_path / "run", items, speakers, params)
    assert trainer.model.languages == languages
    assert float(trainer.model.acoustic.language.weight.detach().abs().sum()) == 0.0
    trainer.fit()
    rows = trainer.model.acoustic.language.weight.detach()
    assert all(float(rows[i].abs().sum()) > 0 for i in range(3))
    saved = load(tmp_path / "run" / "step_0000006.safetensors")
    assert saved.languages == languages
    unnamed = [dataclasses.replace(it, language="") for it in items]
    with pytest.raises(ValueError, match="needs every utterance's language"):
        Trainer(cfg, tmp_path / "run2", unnamed, speakers, params)


def test_a_model_without_languages_is_stored_and_fingerprinted_as_before():
    """Voices remember the fingerprint of the backbone they were fitted on: a model without a
    language embedding must not change it (or every saved voice would be refused)."""
    from voiceadapt.adapt.profile import backbone_fingerprint
    from voiceadapt.inference.synthesize import load as load_bundled

    plain = compact_backbone()
    assert "languages" not in plain.metadata()
    assert "languages" not in plain.cfg.to_dict()["acoustic"]
    # the bundled model's fingerprint before language embeddings existed (replace it with the
    # bundled model, whose voices then have to be fitted again anyway)
    assert backbone_fingerprint(load_bundled()) == \
        "efd1a653e2b4bfe4b9b71005da1747d5249d354f336c26d348d8093ffec323a4"
