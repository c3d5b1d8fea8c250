"""ROUGE-1/2/L/Lsum, corpus BLEU and chrF of generated text: an `evaluate` module that works offline.

`evaluate.load("rouge")` and `evaluate.load("sacrebleu")` fetch their scripts from the Hub; this module computes the
same scores with the reference packages themselves, `rouge-score` (Google's ROUGE, with the Porter stemmer as
`run_summarization.py` uses it) and `sacrebleu` (corpus BLEU and chrF with their default settings).

- rouge1, rouge2, rougeL, rougeLsum: the mean over examples of each example's F-measure, times 100 (the Transformers
  examples' scale). rougeLsum reads newlines as sentence boundaries, as `rouge-score` does.
- bleu, chrf: sacreBLEU's corpus scores (0 to 100), one reference per prediction.
Exact match is not here: it has one definition for the whole toolkit, `finetune_toolkit.core.metrics.exact_match`,
which `generation_scores` adds to these scores.
"""

import datasets
import evaluate
import sacrebleu
from rouge_score import rouge_scorer

_DESCRIPTION = "ROUGE (F-measure, stemmed), corpus BLEU and chrF of generated text against one reference each."
_KWARGS = """
Args:
    predictions (list of str): generated texts.
    references (list of str): one reference text per prediction.
Returns:
    rouge1, rouge2, rougeL, rougeLsum (0-100), bleu (0-100), chrf (0-100).
"""
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Generation(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
        per_example = [scorer.score(reference, prediction) for prediction, reference in zip(predictions, references)]
        count = max(1, len(per_example))
        scores = {name: 100 * sum(example[name].fmeasure for example in per_example) / count for name in ROUGE_TYPES}
        scores["bleu"] = sacrebleu.corpus_bleu(predictions, [references]).score
        scores["chrf"] = sacrebleu.corpus_chrf(predictions, [references]).score
        return scores
