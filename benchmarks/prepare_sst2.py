#!/usr/bin/env python
"""Write sentence-level SST-2 as the benchmarks read it: `train.jsonl` (6,920) and `validation.jsonl` (872), one
`{"text", "label"}` object a line (0 negative, 1 positive). Needs internet once (the Hub's `SetFit/sst2`).

    python benchmarks/prepare_sst2.py --output_dir data/sst2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from finetune_toolkit.core.command_line import parse_args, run_script
from finetune_toolkit.core.errors import UserError
from finetune_toolkit.core.outputs import atomic_write_jsonl


@dataclass
class PrepareArguments:
    output_dir: str = field(default="data/sst2", metadata={"help": "Where train.jsonl and validation.jsonl go."})
    dataset_name: str = field(default="SetFit/sst2", metadata={"help": "Hub dataset with text and label columns."})


def main(argv=None) -> None:
    (args,) = parse_args((PrepareArguments,), argv)
    import datasets

    try:
        splits = datasets.load_dataset(args.dataset_name)
    except Exception as error:  # noqa: BLE001 - any failure to reach the Hub is the user's to fix here
        raise UserError(f"cannot load {args.dataset_name!r} from the Hub ({type(error).__name__}); this needs internet once") from None
    output = Path(args.output_dir)
    for split in ("train", "validation"):
        rows = [{"text": row["text"], "label": int(row["label"])} for row in splits[split]]
        atomic_write_jsonl(output / f"{split}.jsonl", rows)
        print(f"{output / f'{split}.jsonl'}: {len(rows)} sentences")


if __name__ == "__main__":
    run_script(main)
