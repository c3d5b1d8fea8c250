"""Built-in templates for the classic few-shot tasks, written for this project.

Label names and their order follow the Hub datasets, so label ids work on them directly:
sst2 (0 negative, 1 positive), ag_news (0 World, 1 Sports, 2 Business, 3 Sci/Tech), trec coarse labels
(0 ABBR, 1 ENTY, 2 DESC, 3 HUM, 4 LOC, 5 NUM), rte (0 entailment, 1 not_entailment).
The label words are chosen to be one token with a leading space for GPT-2 and Llama-style tokenizers.
`antonyms` (multiple choice) and `arithmetic` (generation) go with the example tasks of `prompts.example_tasks`
(`--dataset_name example:antonyms`).
"""

BUILTIN_TEMPLATES = {
    "sentiment": {
        "name": "sentiment",
        "demonstration": "Review: {text}\nSentiment: {label}",
        "labels": {"negative": ["negative"], "positive": ["positive"]},
    },
    "topic": {
        "name": "topic",
        "demonstration": "Article: {text}\nTopic: {label}",
        "labels": {"World": ["World"], "Sports": ["Sports"], "Business": ["Business"], "Sci/Tech": ["Technology"]},
    },
    "question-type": {
        "name": "question-type",
        "demonstration": "Question: {text}\nAnswer type: {label}",
        "labels": {
            "ABBR": ["Abbreviation"], "ENTY": ["Entity"], "DESC": ["Description"],
            "HUM": ["Person"], "LOC": ["Location"], "NUM": ["Number"],
        },
    },
    "entailment": {
        "name": "entailment",
        "demonstration": "{sentence1}\nQuestion: {sentence2} True or False?\nAnswer: {label}",
        "labels": {"entailment": ["True"], "not_entailment": ["False"]},
    },
    "antonyms": {
        "name": "antonyms",
        "type": "multiple_choice",
        "demonstration": "Question: What is the opposite of {word}?\nAnswer: {label}",
        "choices_column": "choices",
    },
    "arithmetic": {
        "name": "arithmetic",
        "type": "generation",
        "demonstration": "Question: {question}\nAnswer: {label}",
        "stop": ["\n"],
        "max_new_tokens": 8,
    },
}
