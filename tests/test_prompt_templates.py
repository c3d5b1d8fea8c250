"""Templates render exact strings, load from files, and never execute anything."""

import json

import pytest

from prompts import PromptTemplate, Verbalizer, load_template
from finetune_toolkit.core.errors import UserError

DEMOS = [({"text": "Dull."}, 0), ({"text": "A gem."}, 1)]


@pytest.mark.parametrize("name, query, demos, expected", [
    ("sentiment", {"text": "Fine."}, DEMOS,
     "Review: Dull.\nSentiment: negative\n\nReview: A gem.\nSentiment: positive\n\nReview: Fine.\nSentiment:"),
    ("topic", {"text": "Stocks fell."}, [({"text": "Team wins."}, 1), ({"text": "New chip."}, 3)],
     "Article: Team wins.\nTopic: Sports\n\nArticle: New chip.\nTopic: Technology\n\nArticle: Stocks fell.\nTopic:"),
    ("question-type", {"text": "Who wrote it?"}, [({"text": "What is NASA?"}, 0), ({"text": "How many?"}, 5)],
     "Question: What is NASA?\nAnswer type: Abbreviation\n\nQuestion: How many?\nAnswer type: Number\n\n"
     "Question: Who wrote it?\nAnswer type:"),
    ("entailment", {"sentence1": "A man sleeps.", "sentence2": "A man is awake."},
     [({"sentence1": "It rains.", "sentence2": "It is wet."}, 0)],
     "It rains.\nQuestion: It is wet. True or False?\nAnswer: True\n\nA man sleeps.\nQuestion: A man is awake. True or False?\nAnswer:"),
])
def test_builtin_templates_render_exact_prompts(name, query, demos, expected):
    assert load_template(name).render_prompt(query, demos) == expected


def test_builtin_label_orders_follow_the_hub_datasets():
    assert load_template("sentiment").verbalizer.label_names == ["negative", "positive"]
    assert load_template("topic").verbalizer.label_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert load_template("question-type").verbalizer.label_names == ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
    assert load_template("entailment").verbalizer.label_names == ["entailment", "not_entailment"]
    assert load_template("entailment").fields == ["sentence1", "sentence2"]


def test_label_delimiter_moves_to_the_label_and_zero_shot_has_no_separator():
    template = load_template("sentiment")
    assert template.target_delimiter == " "
    assert template.render_prompt({"text": "Fine."}) == "Review: Fine.\nSentiment:"


def test_instruction_and_custom_separator():
    template = PromptTemplate("Q: {question}\nContext: {context}\nA: {label}", Verbalizer({"no": ["no"], "yes": ["yes"]}),
                              instruction="Answer yes or no.", separator="\n###\n")
    prompt = template.render_prompt({"question": "Is it?", "context": "It is."}, [({"question": "Q1", "context": "C1"}, 1)])
    assert prompt == "Answer yes or no.\n###\nQ: Q1\nContext: C1\nA: yes\n###\nQ: Is it?\nContext: It is.\nA:"


def test_text_after_the_label_stays_in_demonstrations_only():
    template = PromptTemplate("<{text}> is {label}.", Verbalizer({"bad": ["bad"], "good": ["good"]}), separator=" ")
    assert template.render_prompt({"text": "x"}, [({"text": "y"}, 1)]) == "<y> is good. <x> is"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_template_files_equal_the_python_definition(tmp_path, suffix):
    spec = {"name": "mine", "instruction": "Classify.", "demonstration": "Text: {text}\nLabel: {label}",
            "labels": {"negative": ["bad", "awful"], "positive": "good"}}
    path = tmp_path / f"mine{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(spec), encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    loaded = load_template(str(path))
    python = PromptTemplate("Text: {text}\nLabel: {label}", Verbalizer({"negative": ["bad", "awful"], "positive": ["good"]}),
                            instruction="Classify.", name="mine")
    assert loaded.render_prompt({"text": "ok"}, [({"text": "no"}, 0)]) == python.render_prompt({"text": "ok"}, [({"text": "no"}, 0)])
    assert loaded.to_dict() == python.to_dict()


@pytest.mark.parametrize("demonstration", ["{text.__class__} {label}", "{0.__globals__} {label}", "{text!r} {label}",
                                           "{text:>99} {label}", "{text[0]} {label}", "{} {label}"])
def test_fields_are_plain_names_only(demonstration):
    with pytest.raises(UserError, match="is not a field"):
        PromptTemplate(demonstration, Verbalizer({"a": ["a"], "b": ["b"]}))


@pytest.mark.parametrize("demonstration, position", [("Review: {text\n{label}", "character 9"), ("Review} {text} {label}", "character 7")])
def test_unbalanced_braces_name_the_position(demonstration, position):
    with pytest.raises(UserError, match=f"unbalanced .* at {position}"):
        PromptTemplate(demonstration, Verbalizer({"a": ["a"], "b": ["b"]}))


def test_values_are_inserted_verbatim_and_jinja_braces_are_literal():
    template = PromptTemplate("{{ text }} {text} {label}", Verbalizer({"a": ["a"], "b": ["b"]}))
    hostile = "{label} {text.__class__} {{7*7}} __import__('os')"
    assert template.render_prompt({"text": hostile}) == "{ text } " + hostile


def test_missing_field_names_the_field():
    with pytest.raises(UserError, match="needs the field 'text'"):
        load_template("sentiment").render_prompt({"sentence": "x"})


def test_label_must_appear_once_and_last():
    verbalizer = Verbalizer({"a": ["a"], "b": ["b"]})
    with pytest.raises(UserError, match="exactly once"):
        PromptTemplate("Review: {text}", verbalizer)
    with pytest.raises(UserError, match="last field"):
        PromptTemplate("{label} {text}", verbalizer)


def test_yaml_python_tags_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("demonstration: !!python/object/apply:os.system ['echo hacked']\nlabels: {a: a, b: b}\n", encoding="utf-8")
    with pytest.raises(UserError, match="cannot parse template file"):
        load_template(str(path))


def test_unknown_template_name_lists_the_builtins():
    with pytest.raises(UserError, match="sentiment, topic, question-type, entailment"):
        load_template("sentimnet")


def test_a_word_for_two_labels_is_refused():
    with pytest.raises(UserError, match="stands for both"):
        Verbalizer({"negative": ["bad"], "positive": ["good", "bad"]})
