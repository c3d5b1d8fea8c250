"""Fuzzing: any template text, field value or data file either works or fails with one `UserError`, never anything else."""

import json
import string
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finetune.data import DataArguments, load_classification_data
from prompts import PromptTemplate, Verbalizer, load_template
from prompts.data import FewShotDataArguments, load_fewshot_data
from finetune_toolkit.core.errors import UserError

VERBALIZER = Verbalizer({"negative": ["negative"], "positive": ["positive"]})
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
braces = st.text(alphabet=string.ascii_letters + "{}[]._!:0123 \n" + "{{" + "}}", max_size=40)


@FUZZ
@given(st.one_of(text, braces))
def test_any_demonstration_format_builds_or_fails_cleanly(fmt):
    try:
        template = PromptTemplate(fmt + " {label}", VERBALIZER)
    except UserError:
        return
    values = {name: "x" for name in template.fields}
    assert isinstance(template.render_prompt(values, [(values, 1)]), str)


@FUZZ
@given(st.one_of(text, st.sampled_from(["{text.__class__}", "{0.__globals__}", "{{ cycler.__init__ }}", "{label}",
                                        "\x00", "\ufeff", "{text!r}", "%(text)s", "$text"])))
def test_field_values_are_inserted_verbatim(value):
    template = load_template("sentiment")
    prompt = template.render_prompt({"text": value}, [({"text": value}, 0)])
    assert prompt == f"Review: {value}\nSentiment: negative\n\nReview: {value}\nSentiment:"


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.booleans()))
def test_non_text_field_values_are_refused_or_rendered(value):
    try:
        prompt = load_template("sentiment").render_prompt({"text": value})
    except UserError as error:
        assert "field 'text' must be text" in str(error)
    else:
        assert prompt == f"Review: {value}\nSentiment:"


def _write(directory, suffix, content: bytes):
    path = directory / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(content)
    return str(path)


def _json_line(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")


rows = st.lists(st.fixed_dictionaries({}, optional={
    "text": st.one_of(text, st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
    "label": st.one_of(st.integers(-2, 3), st.sampled_from(["negative", "positive", "neutral", ""]), st.none(), st.floats()),
    "extra": text,
}), max_size=6)
raw_bytes = st.one_of(st.binary(max_size=200), text.map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.sampled_from([b"", b"\xef\xbb\xbf", b"\r\n\r\n", b"\x00\x00", b"text,label\r\n\xef\xbb\xbfa,1\r\n",
                                       b"text,text,label\na,b,1\n", b"text,label\na,1,2,3\nb\n", b"[1, 2, 3]", b"{\"text\": ",
                                       b'{"text": "' + b"huge " * 200_000 + b'", "label": 1}\n{"text": "b", "label": 0}\n']))


@FUZZ
@given(st.one_of(rows.map(lambda r: ("jsonl", b"".join(_json_line(x) for x in r))),
                 rows.map(lambda r: ("json", json.dumps(r).encode())),
                 raw_bytes.map(lambda b: ("csv", b)), raw_bytes.map(lambda b: ("jsonl", b))))
def test_data_files_load_or_fail_with_one_clear_error(tmp_path, case):
    suffix, content = case
    path = _write(tmp_path, f".{suffix}", content)
    try:
        pool, evaluation = load_fewshot_data(FewShotDataArguments(train_file=path, validation_file=path),
                                             load_template("sentiment"), need_pool=True)
    except UserError as error:
        assert "\n" not in str(error).strip()
    else:
        assert all(isinstance(f["text"], str) and f["text"].strip() for f in evaluation.fields)
        assert set(evaluation.labels) <= {0, 1}
    try:
        load_classification_data(DataArguments(train_file=path, validation_file=path), ("train", "validation"))
    except UserError as error:
        assert "\n" not in str(error).strip()


@FUZZ
@given(st.one_of(raw_bytes.map(lambda b: ("txt", b)), raw_bytes.map(lambda b: ("jsonl", b)),
                 rows.map(lambda r: ("jsonl", b"".join(_json_line(x) for x in r)))))
def test_language_model_text_files_load_or_fail_with_one_clear_error(tmp_path, case):
    from finetune.lm_data import LMDataArguments, load_text_splits

    suffix, content = case
    path = _write(tmp_path, f".{suffix}", content)
    try:
        splits = load_text_splits(LMDataArguments(train_file=path, validation_file=path), ("train", "validation"))
    except UserError as error:
        assert "\n" not in str(error).strip()
    else:
        assert all(isinstance(t, str) and t.strip() for t in splits["train"]["text"])
