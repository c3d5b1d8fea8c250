"""lm-evaluation-harness on the toolkit's scorer (needs the `lm-eval` extra).

- `lm_eval_model.ToolkitLM`: lm-eval's model interface (`loglikelihood`, `loglikelihood_rolling`,
  `generate_until`), for `lm_eval.simple_evaluate(model=ToolkitLM("packaged:SmolLM2-135M-Instruct"), ...)`.
- `harness`: `finetune-toolkit eval`, models x tasks with lm-eval's flags, its results files, resume, a table, plots.

Importing this package imports neither lm-eval nor torch; `ToolkitLM` is loaded on first use.
"""


def __getattr__(name: str):
    if name == "ToolkitLM":
        from .harness import import_lm_eval

        import_lm_eval()
        from .lm_eval_model import ToolkitLM

        return ToolkitLM
    raise AttributeError(name)


__all__ = ["ToolkitLM"]
