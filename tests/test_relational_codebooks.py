"""The interpersonal-process schemes (issue 12): mi_relational and client_relationships codebooks,
multi-label cells, and what the schema refuses."""

from __future__ import annotations

import shutil

import pytest

from transcript_coder.codebook import NO_CODES, join_codes, load_codebook, split_codes
from transcript_coder.errors import ConfigError

from .conftest import ROOT

DEFAULT = ROOT / "configs" / "codebooks"


def test_mi_relational_codes_are_the_issue_table_in_order(codebook):
    scheme = codebook["mi_relational"]
    assert scheme.code_ids == ["affirm", "seek_collaboration", "emphasize_autonomy", "persuade",
                               "persuade_with_permission", "confront"]
    assert (scheme.role, scheme.kind, scheme.multi_label) == ("therapist", "classifier", True)
    assert all(len(c.definition) > 40 for c in scheme.codes)


def test_client_relationships_is_a_rule_scheme_with_a_lexicon(codebook):
    scheme = codebook["client_relationships"]
    assert scheme.code_ids == ["partner", "parent", "child", "sibling", "other_family", "friend", "work_school",
                               "professional", "therapist"]
    assert (scheme.role, scheme.kind, scheme.multi_label, scheme.tagger) == ("client", "rules", True,
                                                                              "relationships_spacy.v1")
    assert codebook.lexicon_path("client_relationships") == DEFAULT / "lexicons" / "client_relationships.yaml"


def test_multi_label_cells_join_in_codebook_order(codebook):
    scheme = codebook["mi_relational"]
    assert join_codes(scheme, ["confront", "affirm", "affirm"]) == "affirm;confront"
    assert join_codes(scheme, []) == ""
    assert split_codes("affirm;confront") == ["affirm", "confront"]
    assert split_codes("") == [] and split_codes(None) == []


def _copy(tmp_path):
    target = tmp_path / "codebooks"
    shutil.copytree(DEFAULT, target)
    return target


def test_rules_scheme_without_tagger_is_refused(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "client_relationships.yaml"
    path.write_text(path.read_text().replace("tagger: relationships_spacy.v1\n", ""))
    with pytest.raises(ConfigError) as info:
        load_codebook(folder)
    assert info.value.code == "E002" and "tagger" in str(info.value)


def test_missing_lexicon_names_the_file(tmp_path):
    folder = _copy(tmp_path)
    (folder / "lexicons" / "client_relationships.yaml").unlink()
    with pytest.raises(ConfigError) as info:
        load_codebook(folder)
    assert info.value.code == "E002" and "lexicon" in str(info.value)


def test_tagger_on_a_classifier_scheme_is_refused(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "mi_relational.yaml"
    path.write_text(path.read_text().replace("multi_label: true\n", "multi_label: true\ntagger: x.v1\n"))
    with pytest.raises(ConfigError) as info:
        load_codebook(folder)
    assert info.value.code == "E002"


def test_multi_label_scheme_cannot_use_the_review_none_marker(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "mi_relational.yaml"
    path.write_text(path.read_text().replace("  - id: confront\n", f"  - id: {NO_CODES}\n"))
    with pytest.raises(ConfigError) as info:
        load_codebook(folder)
    assert info.value.code == "E002" and NO_CODES in str(info.value)


def test_unregistered_tagger_is_e008(tmp_path):
    from transcript_coder.taggers import get_tagger

    folder = _copy(tmp_path)
    path = folder / "client_relationships.yaml"
    path.write_text(path.read_text().replace("relationships_spacy.v1", "nosuch.v1"))
    codebook = load_codebook(folder)
    with pytest.raises(ConfigError) as info:
        get_tagger(codebook["client_relationships"], codebook)
    assert info.value.code == "E008" and "relationships_spacy.v1" in str(info.value)


def test_an_edited_lexicon_changes_the_codebook_digest(tmp_path):
    from transcript_coder.batch import codebook_digest

    folder = _copy(tmp_path)
    before = codebook_digest(load_codebook(folder))
    lexicon = folder / "lexicons" / "client_relationships.yaml"
    lexicon.write_text(lexicon.read_text().replace("[wife, husband,", "[wife, husband, hubbie,"))
    assert codebook_digest(load_codebook(folder)) != before
